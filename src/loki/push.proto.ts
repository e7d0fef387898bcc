// Loki's push message, logproto.PushRequest (github.com/grafana/loki, pkg/push/push.proto), for
// @bufbuild/protobuf. The schema is built here as a descriptor rather than read from a .proto
// file, so that it travels inside `bun build --compile`; gogoproto's options change only the Go
// code and are left out. Field names and numbers are push.proto's:
//
//   message PushRequest    { repeated StreamAdapter streams = 1; string format = 2; }
//   message StreamAdapter  { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//   message LabelPairAdapter { string name = 1; string value = 2; }
//   message EntryAdapter   { google.protobuf.Timestamp timestamp = 1; string line = 2;
//                            repeated LabelPairAdapter structuredMetadata = 3;
//                            repeated LabelPairAdapter parsed = 4; }
//
// `labels` is a label set in Prometheus' syntax (`{app="web", namespace="default"}`); senders
// compress the encoded message with snappy's block format.
import { create, createFileRegistry, fromBinary, toBinary, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  file_google_protobuf_timestamp,
  FileDescriptorProtoSchema,
  type Timestamp,
} from "@bufbuild/protobuf/wkt";

export type PushRequest = Message<"logproto.PushRequest"> & { streams: StreamAdapter[]; format: string };
export type StreamAdapter = Message<"logproto.StreamAdapter"> & { labels: string; entries: EntryAdapter[]; hash: bigint };
export type LabelPairAdapter = Message<"logproto.LabelPairAdapter"> & { name: string; value: string };
export type EntryAdapter = Message<"logproto.EntryAdapter"> & {
  timestamp?: Timestamp;
  line: string;
  structuredMetadata: LabelPairAdapter[];
  parsed: LabelPairAdapter[];
};

interface FieldSpec {
  name: string;
  number: number;
  type: Type;
  repeated?: boolean;
  typeName?: string;
}

const field = (f: FieldSpec) => ({
  name: f.name,
  number: f.number,
  type: f.type,
  label: f.repeated ? Label.REPEATED : Label.OPTIONAL,
  typeName: f.typeName,
  jsonName: f.name,
});

const file = create(FileDescriptorProtoSchema, {
  name: "pkg/push/push.proto",
  package: "logproto",
  syntax: "proto3",
  dependency: ["google/protobuf/timestamp.proto"],
  messageType: [
    {
      name: "PushRequest",
      field: [
        field({ name: "streams", number: 1, type: Type.MESSAGE, repeated: true, typeName: ".logproto.StreamAdapter" }),
        field({ name: "format", number: 2, type: Type.STRING }),
      ],
    },
    { name: "PushResponse" },
    {
      name: "StreamAdapter",
      field: [
        field({ name: "labels", number: 1, type: Type.STRING }),
        field({ name: "entries", number: 2, type: Type.MESSAGE, repeated: true, typeName: ".logproto.EntryAdapter" }),
        field({ name: "hash", number: 3, type: Type.UINT64 }),
      ],
    },
    {
      name: "LabelPairAdapter",
      field: [field({ name: "name", number: 1, type: Type.STRING }), field({ name: "value", number: 2, type: Type.STRING })],
    },
    {
      name: "EntryAdapter",
      field: [
        field({ name: "timestamp", number: 1, type: Type.MESSAGE, typeName: ".google.protobuf.Timestamp" }),
        field({ name: "line", number: 2, type: Type.STRING }),
        field({
          name: "structuredMetadata",
          number: 3,
          type: Type.MESSAGE,
          repeated: true,
          typeName: ".logproto.LabelPairAdapter",
        }),
        field({ name: "parsed", number: 4, type: Type.MESSAGE, repeated: true, typeName: ".logproto.LabelPairAdapter" }),
      ],
    },
  ],
});

const registry = createFileRegistry(file, (name) =>
  name === "google/protobuf/timestamp.proto" ? file_google_protobuf_timestamp : undefined,
);

function message<T extends Message>(typeName: string): GenMessage<T> {
  const desc = registry.getMessage(typeName);
  if (desc === undefined) throw new Error(`push.proto: no message ${typeName}`);
  return desc as unknown as GenMessage<T>;
}

export const PushRequestSchema = message<PushRequest>("logproto.PushRequest");

/** Decodes an (uncompressed) PushRequest; throws on bytes that are not one. */
export function decodePushRequest(bytes: Uint8Array): PushRequest {
  return fromBinary(PushRequestSchema, bytes);
}

/** Encodes a PushRequest (uncompressed): for tests and tools that push. */
export function encodePushRequest(request: MessageInitShape<typeof PushRequestSchema>): Uint8Array {
  return toBinary(PushRequestSchema, create(PushRequestSchema, request));
}
