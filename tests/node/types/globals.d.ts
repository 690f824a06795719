// The one runtime global the guide's examples use. Declared here instead of loading @types/node, so
// the check stays fast and still type-checks the package's own .d.ts files (no skipLibCheck).
declare const console: { log(...data: unknown[]): void };
