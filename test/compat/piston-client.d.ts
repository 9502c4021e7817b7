// Types for the untyped `piston-client` npm package, as far as the tests use it.
declare module 'piston-client' {
  export interface PistonClient {
    runtimes(): Promise<any>;
    execute(language: string | Record<string, unknown>, code?: string | Record<string, unknown>, config?: Record<string, unknown>): Promise<any>;
  }
  export function piston(opts?: { server?: string }): PistonClient;
  export default piston;
}
