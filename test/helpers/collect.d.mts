export function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array>;
