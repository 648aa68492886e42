// Module resolution hooks: @tensorflow/tfjs-node and -gpu resolve to the stand-in.
const STAND_IN = new URL('./tfjs-node.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === '@tensorflow/tfjs-node' || specifier === '@tensorflow/tfjs-node-gpu') return { url: STAND_IN, shortCircuit: true };
  return next(specifier, context);
}
