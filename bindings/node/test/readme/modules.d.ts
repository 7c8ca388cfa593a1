// SPDX-License-Identifier: MIT
// The parts of pino and @opentelemetry/api that README.md's snippets use, with those packages'
// signatures, so that the snippets compile without installing them (test/readme.test.js).
declare module 'pino' {
  interface LogFn {
    (obj: object, msg?: string, ...args: unknown[]): void;
    (msg: string, ...args: unknown[]): void;
  }
  interface PinoLogger {
    level: string;
    trace: LogFn;
    debug: LogFn;
    info: LogFn;
    warn: LogFn;
    error: LogFn;
    fatal: LogFn;
  }
  function pino(options?: { level?: string }): PinoLogger;
  export default pino;
}

declare module '@opentelemetry/api' {
  export interface Context {
    getValue(key: symbol): unknown;
  }
  export interface Span {
    end(endTime?: number): void;
  }
  export enum SpanKind { INTERNAL = 0, SERVER = 1, CLIENT = 2, PRODUCER = 3, CONSUMER = 4 }
  export interface SpanOptions {
    kind?: SpanKind;
  }
  export interface Tracer {
    startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, context: Context, fn: F): ReturnType<F>;
  }
  export const context: { active(): Context };
  export const propagation: {
    inject<Carrier>(context: Context, carrier: Carrier): void;
    extract<Carrier>(context: Context, carrier: Carrier): Context;
  };
  export const trace: { getTracer(name: string, version?: string): Tracer };
}
