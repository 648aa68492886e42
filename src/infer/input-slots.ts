// A model's input slots in shared memory: each slot holds one item of the model's input tensor.
// A decode worker writes an image's tensor straight into a slot, and an inference worker reads
// it from there, so the main thread only passes slot views along (posting a view of a
// SharedArrayBuffer shares it, no copy): no input tensor is allocated, copied or collected on the
// event loop's thread. Slots are made in chunks as needed and reused; their number follows the
// peak of images in flight, which the server's limits bound.
import { InvariantError } from '../errors.js';

/** Slots made at once. */
const CHUNK = 8;

export class InputSlots {
  private readonly free: Float32Array[] = [];
  private readonly held = new Set<Float32Array>();
  private made = 0;

  constructor(
    /** Floats per item. */
    readonly itemSize: number,
  ) {
    if (!(Number.isInteger(itemSize) && itemSize > 0)) throw new InvariantError(`InputSlots: invalid item size ${itemSize}`);
  }

  /** A free slot (its contents are left over from its last use). */
  acquire(): Float32Array {
    if (this.free.length === 0) this.grow();
    const slot = this.free.pop()!;
    this.held.add(slot);
    return slot;
  }

  /** Gives a slot back; it must not be read or written by anyone after this. */
  release(slot: Float32Array): void {
    if (!this.held.delete(slot)) throw new InvariantError('InputSlots: released a slot that is not held');
    this.free.push(slot);
  }

  /** Slots made so far, and how many are held now. */
  stats(): { made: number; held: number } {
    return { made: this.made, held: this.held.size };
  }

  private grow(): void {
    const buffer = new SharedArrayBuffer(CHUNK * this.itemSize * Float32Array.BYTES_PER_ELEMENT);
    for (let i = CHUNK - 1; i >= 0; i--) this.free.push(new Float32Array(buffer, i * this.itemSize * Float32Array.BYTES_PER_ELEMENT, this.itemSize));
    this.made += CHUNK;
  }
}
