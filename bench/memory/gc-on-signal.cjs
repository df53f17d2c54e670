// Preloaded into a Node proxy by idle-connections.mjs (with --expose-gc): SIGUSR2 runs a full,
// memory-reducing garbage collection, so that the RSS read afterwards is what live objects hold
// rather than V8's young generation grown while connections were being opened. Measurement only.
'use strict';
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc({ type: 'major', execution: 'sync' });
});
