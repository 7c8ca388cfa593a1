// SPDX-License-Identifier: MIT
// What README.md's snippets take from their surroundings (test/readme.test.js compiles each
// snippet as its own module with these in scope): the objects a snippet continues from, and the
// application's own functions. A script file: its declarations are global.
declare const url: string;
declare const queue: import('libsaq').Queue;
declare const otherQueue: import('libsaq').Queue;
declare const worker: import('libsaq').Worker;
declare const functions: import('libsaq').Functions;
declare const to: string;
declare function connect(): Promise<{ close(): Promise<void> }>;
declare function send(to: string): Promise<string>;
declare function show(jobs: import('libsaq').Job[]): void;
declare const metrics: { ok: { inc(): void } };
declare const log: { error(fields: object, message: string): void; warn(fields: object, message: string): void };
