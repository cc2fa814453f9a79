// One error type and one message format for every argument check: "op: Expected … for … but received …".
export type ErrorCode =
  | 'RN_INVALID_ARGUMENT'
  | 'RN_SHAPE_MISMATCH'
  | 'RN_DTYPE_MISMATCH'
  | 'RN_DISPOSED'
  | 'RN_UNKNOWN_OP'
  | 'RN_UNKNOWN_ATTRIBUTE'
  | 'RN_OUT_OF_MEMORY'
  | 'RN_BACKEND_ERROR'
  | 'RN_DEVICE_UNAVAILABLE'
  | 'RN_ADDON_LOAD_FAILED'
  | 'RN_COLLECTIVE_TIMEOUT'
  | 'RN_RANK_FAILED'
  | 'RN_RENDEZVOUS_FAILED'
  | 'RN_INTERNAL';

export class ResnetError extends Error {
  readonly code: ErrorCode;
  readonly op?: string;
  constructor(code: ErrorCode, message: string, op?: string) {
    super(op ? `${op}: ${message}` : message);
    this.name = 'ResnetError';
    this.code = code;
    this.op = op;
  }
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function expected(
  code: ErrorCode,
  op: string | undefined,
  what: string,
  wanted: string,
  received: string,
): ResnetError {
  return new ResnetError(code, `Expected ${wanted} for ${what} but received ${received}`, op);
}
