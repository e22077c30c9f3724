// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, ...,
// "__metadata__": {string: string}}, then the raw little-endian tensor bytes. Offsets are
// relative to the data section, which they must cover exactly with no holes or overlaps.

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** The tensor's raw bytes (a view into the file). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  /** In file order. */
  tensors: Map<string, SafetensorsEntry>;
}

export interface Float32Entry {
  shape: number[];
  data: Float32Array;
}

const BYTES_PER_ELEMENT: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('safetensors.ts assumes a little-endian host');

/** Parses and validates a whole file; throws a one-line error on truncation or malformed headers. */
export function parseSafetensors(file: Uint8Array): SafetensorsFile {
  const fail = (why: string): never => {
    throw new Error(`not a valid safetensors file: ${why}`);
  };
  if (file.length < 8) fail(`only ${file.length} bytes, shorter than the 8-byte header length`);
  const headerLength = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > file.length - 8) fail(`header says ${headerLength} bytes but the file has ${file.length - 8} after the length (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLength)));
  } catch (err) {
    fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const data = file.subarray(8 + headerLength);
  const { __metadata__: rawMeta, ...rawTensors } = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) fail('__metadata__ is not an object');
    for (const [k, v] of Object.entries(rawMeta as object)) {
      if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
      metadata[k] = v;
    }
  }

  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(rawTensors)) {
    const { dtype, shape, data_offsets: offsets } = (raw ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in BYTES_PER_ELEMENT)) fail(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}" has a bad shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor "${name}" has bad data_offsets`);
    }
    const [begin, end] = offsets as number[];
    const size = (shape as number[]).reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype as string];
    if (end - begin !== size) fail(`tensor "${name}" spans ${end - begin} bytes but its dtype and shape need ${size}`);
    if (end > data.length) fail(`tensor "${name}" ends at byte ${end} of a ${data.length}-byte data section (truncated?)`);
    spans.push({ name, begin, end });
    tensors.set(name, { dtype: dtype as string, shape: shape as number[], bytes: data.subarray(begin, end) });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin !== covered) fail(`tensor "${s.name}" starts at byte ${s.begin}, expected ${covered} (hole or overlap)`);
    covered = s.end;
  }
  if (covered !== data.length) fail(`data section has ${data.length - covered} bytes after the last tensor`);
  return { metadata, tensors };
}

/** Converts a floating-point entry (F32, F16, BF16, F64) to float32. */
export function toFloat32(name: string, entry: SafetensorsEntry): Float32Array {
  const { dtype, bytes } = entry;
  const n = bytes.length / BYTES_PER_ELEMENT[dtype];
  // A fresh, aligned copy: the source may sit at any byte offset (and Buffer#slice would not copy).
  const aligned = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned, 0, n);
    case 'F64':
      return Float32Array.from(new Float64Array(aligned, 0, n));
    case 'F16': {
      const half = new Uint16Array(aligned, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(half[i]);
      return out;
    }
    case 'BF16': {
      // bfloat16 is the high half of a float32.
      const half = new Uint16Array(aligned, 0, n);
      const words = new Uint32Array(n);
      for (let i = 0; i < n; i++) words[i] = half[i] << 16;
      return new Float32Array(words.buffer);
    }
    default:
      throw new Error(`tensor "${name}" has dtype ${dtype}; only F32, F16, BF16 and F64 convert to float32`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Serialises float32 tensors (in map order) and string metadata; the data section is 8-byte aligned. */
export function serializeSafetensors(tensors: Map<string, Float32Entry>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    if (name === '__metadata__') throw new Error('a tensor cannot be named "__metadata__"');
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`tensor "${name}" has ${data.length} values but shape [${shape}] needs ${n}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).length + 8) % 8)) % 8); // the format allows trailing spaces
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const { data } of tensors.values()) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}
