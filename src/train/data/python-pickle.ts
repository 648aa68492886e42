// A minimal unpickler for exactly what the CIFAR python-format files hold (and what Python 3 with
// numpy writes for the same dicts): pickled dicts of bytes/str keys, lists of ints and strings,
// and numpy arrays through numpy.core.multiarray._reconstruct (numpy._core in numpy 2).
// Protocols 2 to 4. Nothing is executed: the only callables are the few globals below, each
// interpreted here; any other global is refused.
//
// Python values become: int/float -> number, bool -> boolean, None -> null, str -> string,
// bytes -> Uint8Array, list/tuple -> array, dict -> Map with string keys (bytes keys decoded as
// latin1, which Python 2's str keys of the CIFAR files are), numpy array -> NumpyArray.

export type PyValue = number | boolean | null | string | Uint8Array | PyValue[] | Map<string, PyValue> | NumpyArray | PyGlobal | NumpyDtype;

export interface NumpyArray {
  kind: 'ndarray';
  shape: number[];
  /** numpy dtype string, e.g. 'u1', 'i8'. */
  dtype: string;
  /** The raw bytes, C order (Fortran-ordered arrays are refused). */
  bytes: Uint8Array;
}

interface NumpyDtype {
  kind: 'dtype';
  name: string;
  byteOrder: string;
}

interface PyGlobal {
  kind: 'global';
  name: string;
}

const RECONSTRUCT = new Set(['numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct']);
const KNOWN_GLOBALS = new Set([...RECONSTRUCT, 'numpy.ndarray', 'numpy.dtype', '_codecs.encode']);

export class PickleError extends Error {
  readonly code = 'PICKLE_UNSUPPORTED';
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function isMap(v: unknown): v is Map<string, PyValue> {
  return v instanceof Map;
}

function keyOf(k: PyValue): string {
  if (typeof k === 'string') return k;
  if (k instanceof Uint8Array) return latin1(k);
  if (typeof k === 'number') return String(k);
  throw new PickleError(`pickle: unsupported dict key ${JSON.stringify(k)}`);
}

function call(fn: PyValue, args: PyValue, source: string): PyValue {
  if (!(typeof fn === 'object' && fn && 'kind' in fn && fn.kind === 'global') || !Array.isArray(args)) {
    throw new PickleError(`${source}: REDUCE of something that is not a known global`);
  }
  if (RECONSTRUCT.has(fn.name)) return { kind: 'ndarray', shape: [0], dtype: 'u1', bytes: new Uint8Array(0) };
  if (fn.name === 'numpy.dtype') {
    const name = args[0] instanceof Uint8Array ? latin1(args[0]) : String(args[0]);
    return { kind: 'dtype', name, byteOrder: '|' };
  }
  if (fn.name === '_codecs.encode') {
    // Python 3 pickles bytes at protocol 2 as _codecs.encode(bytes.decode('latin1'), 'latin1').
    if (typeof args[0] !== 'string' || args[1] !== 'latin1') throw new PickleError(`${source}: unsupported _codecs.encode call`);
    return new Uint8Array(Buffer.from(args[0], 'latin1'));
  }
  throw new PickleError(`${source}: unsupported global ${fn.name}`);
}

function build(target: PyValue, state: PyValue, source: string): void {
  if (typeof target !== 'object' || target === null || !('kind' in target) || !Array.isArray(state)) {
    throw new PickleError(`${source}: BUILD of an unsupported object`);
  }
  if (target.kind === 'dtype') {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    const order = state[1];
    target.byteOrder = order instanceof Uint8Array ? latin1(order) : String(order);
    return;
  }
  if (target.kind === 'ndarray') {
    // (version, shape, dtype, is_fortran, raw data)
    const [, shape, dtype, fortran, raw] = state;
    if (!Array.isArray(shape) || !(typeof dtype === 'object' && dtype && 'kind' in dtype && dtype.kind === 'dtype')) {
      throw new PickleError(`${source}: malformed numpy array state`);
    }
    if (fortran === true && shape.length > 1) throw new PickleError(`${source}: Fortran-ordered numpy arrays are not supported`);
    if (dtype.byteOrder === '>') throw new PickleError(`${source}: big-endian numpy arrays are not supported`);
    if (!(raw instanceof Uint8Array)) throw new PickleError(`${source}: numpy array of dtype ${dtype.name} holds Python objects`);
    target.shape = shape.map(Number);
    target.dtype = dtype.name;
    target.bytes = raw;
    return;
  }
  throw new PickleError(`${source}: BUILD of an unsupported object`);
}

/** Parses one pickle. `source` names the file in error messages. */
export function unpickle(bytes: Uint8Array, source = 'pickle'): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new PickleError(`${source}: truncated pickle at byte ${pos}`);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = () => take(1)[0];
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(`${source}: truncated pickle at byte ${pos}`);
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new PickleError(`${source}: malformed pickle (stack underflow at byte ${pos})`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new PickleError(`${source}: malformed pickle at byte ${pos}`);
    return v;
  };
  const popToMark = (): PyValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) throw new PickleError(`${source}: malformed pickle (no MARK) at byte ${pos}`);
    const items = stack.splice(at) as PyValue[];
    return items.slice(1);
  };
  const global = (name: string): PyGlobal => {
    if (!KNOWN_GLOBALS.has(name)) throw new PickleError(`${source}: unsupported pickle global ${name}`);
    return { kind: 'global', name };
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!isMap(dict)) throw new PickleError(`${source}: SETITEM on something that is not a dict`);
    for (let i = 0; i + 1 < items.length; i += 2) dict.set(keyOf(items[i]), items[i + 1]);
  };
  const append = (list: PyValue, items: PyValue[]) => {
    if (!Array.isArray(list)) throw new PickleError(`${source}: APPEND to something that is not a list`);
    list.push(...items);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const version = u8();
        if (version < 2 || version > 4) throw new PickleError(`${source}: pickle protocol ${version} is not supported (2 to 4 are)`);
        break;
      }
      case 0x95: take(8); break; // FRAME: a length we do not need
      case 0x2e: return pop(); // STOP
      case 0x28: stack.push(MARK); break; // MARK
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: { need(2); stack.push(view.getUint16(pos, true)); pos += 2; break; } // BININT2
      case 0x4a: { need(4); stack.push(view.getInt32(pos, true)); pos += 4; break; } // BININT
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: { need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT
      case 0x55: stack.push(take(u8()).slice()); break; // SHORT_BINSTRING (Python 2 str)
      case 0x54: stack.push(take(u32()).slice()); break; // BINSTRING
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x8c: stack.push(Buffer.from(take(u8())).toString('utf8')); break; // SHORT_BINUNICODE
      case 0x58: stack.push(Buffer.from(take(u32())).toString('utf8')); break; // BINUNICODE
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) throw new PickleError(`${source}: memo ${key} read before it was written`);
        stack.push(memo.get(key)!);
        break;
      }
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x74: stack.push(popToMark()); break; // TUPLE
      case 0x6c: stack.push(popToMark()); break; // LIST
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popToMark(); append(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popToMark(); setItems(top(), items); break; } // SETITEMS
      case 0x63: { const module = line(); stack.push(global(`${module}.${line()}`)); break; } // GLOBAL
      case 0x93: { const name = pop(); const module = pop(); stack.push(global(`${String(module)}.${String(name)}`)); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(); stack.push(call(pop(), args, source)); break; } // REDUCE
      case 0x62: { const state = pop(); build(top(), state, source); break; } // BUILD
      default:
        throw new PickleError(`${source}: pickle opcode 0x${op.toString(16)} at byte ${pos - 1} is not supported by this reader (CIFAR's python files need none of those)`);
    }
  }
}

/** dict[key] where the dict's keys may be bytes or str; undefined when absent. */
export function dictGet(dict: PyValue, key: string): PyValue | undefined {
  if (!isMap(dict)) throw new PickleError('pickle: expected a dict');
  return dict.get(key);
}

/** A Python list/tuple of ints as an Int32Array, or a 1-D integer numpy array. */
export function toIntArray(value: PyValue | undefined, what: string): Int32Array {
  if (Array.isArray(value)) {
    return Int32Array.from(value, (v) => {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new PickleError(`${what}: expected integers`);
      return v;
    });
  }
  if (value && typeof value === 'object' && 'kind' in value && value.kind === 'ndarray') {
    const b = value.bytes;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = value.shape.reduce((a, s) => a * s, 1);
    const size: Record<string, number> = { u1: 1, i1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8 };
    const width = size[value.dtype];
    if (!width) throw new PickleError(`${what}: numpy dtype ${value.dtype} is not an integer type`);
    return Int32Array.from({ length: n }, (_, i) => {
      switch (value.dtype) {
        case 'u1': return b[i];
        case 'i1': return dv.getInt8(i);
        case 'i2': return dv.getInt16(2 * i, true);
        case 'u2': return dv.getUint16(2 * i, true);
        case 'i4': return dv.getInt32(4 * i, true);
        case 'u4': return dv.getUint32(4 * i, true);
        default: return Number(value.dtype === 'i8' ? dv.getBigInt64(8 * i, true) : dv.getBigUint64(8 * i, true));
      }
    });
  }
  throw new PickleError(`${what}: expected a list of integers`);
}

/** A list of str or bytes (decoded as UTF-8) as strings. */
export function toStringList(value: PyValue | undefined, what: string): string[] {
  if (!Array.isArray(value)) throw new PickleError(`${what}: expected a list of names`);
  return value.map((v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    throw new PickleError(`${what}: expected names (str or bytes)`);
  });
}

export function isNumpyArray(value: PyValue | undefined): value is NumpyArray {
  return typeof value === 'object' && value !== null && 'kind' in value && value.kind === 'ndarray';
}
