import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

const stream = 'id: c1\nevent: decision\ndata: {"a":1}\n\n: keepalive\n\nid: c2\nevent: decision\ndata: {"a":2}\n\n';

describe("SseParser", () => {
  it("yields the same events whatever the chunk boundaries", () => {
    const whole = new SseParser().feed(stream);
    expect(whole.map((e) => [e.id, e.event, e.data])).toEqual([
      ["c1", "decision", '{"a":1}'],
      ["c2", "decision", '{"a":2}'],
    ]);
    for (let size = 1; size <= 7; size++) {
      const parser = new SseParser();
      const events = [];
      for (let i = 0; i < stream.length; i += size) events.push(...parser.feed(stream.slice(i, i + size)));
      expect(events).toEqual(whole);
    }
  });

  it("handles CRLF split across chunks and multi-line data", () => {
    const parser = new SseParser();
    const events = [...parser.feed("data: one\r"), ...parser.feed("\ndata: two\r\n\r"), ...parser.feed("\n")];
    expect(events).toEqual([{ id: null, event: "message", data: "one\ntwo" }]);
  });

  it("keeps the last event id for Last-Event-ID, and ignores comments", () => {
    const parser = new SseParser();
    expect(parser.feed(": keepalive\n\n")).toEqual([]);
    parser.feed("id: 42\ndata: x\n\n");
    expect(parser.lastEventId).toBe("42");
    const [next] = parser.feed("data: y\n\n");
    expect(next.id).toBe("42"); // the id carries over until a new one is sent
  });

  it("does not dispatch an unterminated event", () => {
    const parser = new SseParser();
    expect(parser.feed("id: 9\ndata: half")).toEqual([]);
    expect(parser.feed("\n\n")).toEqual([{ id: "9", event: "message", data: "half" }]);
  });
});
