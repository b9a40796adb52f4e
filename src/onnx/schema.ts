/**
 * The part of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) this runtime reads, as a
 * protobufjs reflection root. Field numbers are the official ones; fields we never read are left out, which is
 * safe because protobuf decoders skip unknown fields. Field names are camelCase, as protobufjs does for .proto
 * files.
 */
import protobuf from 'protobufjs/light.js';
import { ModelFormatError } from '../errors.js';

export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;
export type DataLocation = (typeof DataLocation)[keyof typeof DataLocation];

/*
 * The decoded messages. 64-bit integers are plain numbers (exact up to 2^53, far beyond any dimension); optional
 * scalars are absent when not on the wire; repeated fields are always arrays.
 */

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto {
  /** '' or 'ai.onnx' is the default operator set. */
  domain?: string;
  version?: number;
}

export interface TensorProto {
  dims: number[];
  dataType?: number;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  name?: string;
  rawData?: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation?: DataLocation;
}

export interface AttributeProto {
  name?: string;
  type?: AttributeType;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute: AttributeProto[];
}

/** Exactly one of the two is present in a well-formed dimension; neither means "unknown". */
export interface DimensionProto {
  dimValue?: number;
  dimParam?: string;
}

export interface TensorShapeProto {
  dim: DimensionProto[];
}

export interface TypeProto {
  tensorType?: { elemType?: number; shape?: TensorShapeProto };
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface ModelProto {
  irVersion?: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  graph?: GraphProto;
}

type FieldJson = { type: string; id: number; rule?: 'repeated'; options?: { packed: boolean } };

const optional = (type: string, id: number): FieldJson => ({ type, id });
const repeated = (type: string, id: number): FieldJson => ({ type, id, rule: 'repeated' });
/** onnx.proto is proto2, where repeated numbers are unpacked unless the field says otherwise. */
const packed = (type: string, id: number): FieldJson => ({ type, id, rule: 'repeated', options: { packed: true } });

const onnxRoot = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: {
          fields: { key: optional('string', 1), value: optional('string', 2) },
        },
        OperatorSetIdProto: {
          fields: { domain: optional('string', 1), version: optional('int64', 2) },
        },
        TensorProto: {
          nested: {
            DataType: { values: DataType },
            DataLocation: { values: DataLocation },
          },
          fields: {
            dims: repeated('int64', 1),
            dataType: optional('int32', 2),
            floatData: packed('float', 4),
            int32Data: packed('int32', 5),
            int64Data: packed('int64', 7),
            name: optional('string', 8),
            rawData: optional('bytes', 9),
            externalData: repeated('StringStringEntryProto', 13),
            dataLocation: optional('DataLocation', 14),
          },
        },
        AttributeProto: {
          nested: { AttributeType: { values: AttributeType } },
          fields: {
            name: optional('string', 1),
            f: optional('float', 2),
            i: optional('int64', 3),
            s: optional('bytes', 4),
            t: optional('TensorProto', 5),
            floats: repeated('float', 7),
            ints: repeated('int64', 8),
            strings: repeated('bytes', 9),
            type: optional('AttributeType', 20),
          },
        },
        NodeProto: {
          fields: {
            input: repeated('string', 1),
            output: repeated('string', 2),
            name: optional('string', 3),
            opType: optional('string', 4),
            attribute: repeated('AttributeProto', 5),
            domain: optional('string', 7),
          },
        },
        TensorShapeProto: {
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: optional('int64', 1), dimParam: optional('string', 2) },
            },
          },
          fields: { dim: repeated('Dimension', 1) },
        },
        TypeProto: {
          nested: {
            Tensor: {
              fields: { elemType: optional('int32', 1), shape: optional('TensorShapeProto', 2) },
            },
          },
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: { tensorType: optional('Tensor', 1) },
        },
        ValueInfoProto: {
          fields: { name: optional('string', 1), type: optional('TypeProto', 2) },
        },
        GraphProto: {
          fields: {
            node: repeated('NodeProto', 1),
            name: optional('string', 2),
            initializer: repeated('TensorProto', 5),
            input: repeated('ValueInfoProto', 11),
            output: repeated('ValueInfoProto', 12),
          },
        },
        ModelProto: {
          fields: {
            irVersion: optional('int64', 1),
            producerName: optional('string', 2),
            producerVersion: optional('string', 3),
            graph: optional('GraphProto', 7),
            opsetImport: repeated('OperatorSetIdProto', 8),
          },
        },
      },
    },
  },
});

const modelType = onnxRoot.lookupType('onnx.ModelProto');

/** Parses ONNX model bytes; malformed bytes become a ModelFormatError. Byte fields may alias `bytes`. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  let message: protobuf.Message;
  try {
    message = modelType.decode(bytes);
  } catch (error) {
    throw new ModelFormatError(`not a valid ONNX model: ${error instanceof Error ? error.message : String(error)}`);
  }
  return modelType.toObject(message, { longs: Number, arrays: true }) as ModelProto;
}

/** Serialises a model; the inverse of decodeModel. Optional fields left undefined are not written. */
export function encodeModel(model: ModelProto): Uint8Array {
  const bytes = modelType.encode(modelType.fromObject(model)).finish();
  // On Node protobufjs returns a Buffer, whose slice() shares memory; hand out a plain Uint8Array view.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
