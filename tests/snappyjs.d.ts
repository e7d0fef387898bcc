// snappyjs (a devDependency: the reference decoder of the snappy tests) ships no types.
declare module "snappyjs" {
  const SnappyJS: {
    compress(input: Uint8Array): Uint8Array;
    uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
  };
  export default SnappyJS;
}
