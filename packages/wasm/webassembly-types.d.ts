// The WebAssembly types that @recurrent/wasm's declarations name, as interfaces that merge with the real
// ones (the DOM library's, or @types/node ≥ 22's): a Node project with lib ES20xx and @types/node 20,
// which declare no WebAssembly, still type-checks with skipLibCheck false.
declare namespace WebAssembly {
  interface ValueTypeMap {}
  interface Global<T extends keyof ValueTypeMap = keyof ValueTypeMap> {}
  interface Memory {}
  interface Module {}
}
