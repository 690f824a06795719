/** The native module (built by napi-rs), loaded through its generated loader. */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const native: typeof import('./native-binding') = require('../bindings-node/native.cjs')
export = native
