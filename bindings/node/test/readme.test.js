// SPDX-License-Identifier: MIT
'use strict';
// Every ```js and ```ts snippet of README.md compiles under tsc --strict, with
// no cast, no non-null assertion and no @ts- comment. Each snippet is compiled
// as its own ES module (.mts: top-level await, `import ... from 'libsaq'`
// resolved to index.d.ts). A snippet without an import from 'libsaq' gets one
// of the package's values; test/readme/env.d.ts declares what snippets take
// from their surroundings (`queue`, `worker`, `url`, ...) and
// test/readme/modules.d.ts the parts of pino and @opentelemetry/api they use.
// TypeScript and @types/node come from test/types/node_modules (run-tests.sh
// installs them there; the test is skipped elsewhere when they are missing).
const { test } = require('node:test');
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const pkg = path.resolve(__dirname, '..');
const types = path.join(__dirname, 'types', 'node_modules');
const tsc = path.join(types, 'typescript', 'bin', 'tsc');
const have = fs.existsSync(tsc) && fs.existsSync(path.join(types, '@types', 'node'));
const skip = !have && !process.env.SAQ_REQUIRE_TSC
  ? 'TypeScript is not installed in test/types (npm install there; run-tests.sh does)' : false;

/** The package's value exports, for snippets that do not import what they use. */
const VALUES = ['Queue', 'Worker', 'Job', 'SaqError', 'JobError', 'CancelledError', 'codes', 'rawJson', 'RawJson',
  'collectMetrics', 'metricsContentType'];

/** The ```js and ```ts blocks of a markdown text: [{ lang, line, code }]. */
function snippets(text) {
  const out = [];
  const re = /^```(js|ts)\n([\s\S]*?)^```$/gm;
  let m;
  while ((m = re.exec(text)) !== null) {
    out.push({ lang: m[1], line: text.slice(0, m.index).split('\n').length, code: m[2] });
  }
  return out;
}

/** What a snippet must not contain: a way around the type checker. */
const FORBIDDEN = [
  [/\bas\s+(?!const\b)[A-Za-z_{[(]/, 'a cast (as T)'],
  [/<[A-Z]\w*(?:<[^>]*>)?>\s*[\w(]/, 'a cast (<T>x)'],
  [/[\w)\]]!(?:\.|\)|;|\[|,|\s*$)/m, 'a non-null assertion (x!)'],
  [/@ts-(?:ignore|expect-error|nocheck)/, 'a @ts- comment'],
];

test('README.md: every js/ts snippet compiles under tsc --strict without casts', { skip }, () => {
  assert.ok(have, `no TypeScript in ${types} (run-tests.sh installs it)`);
  const found = snippets(fs.readFileSync(path.join(pkg, 'README.md'), 'utf8'));
  assert.ok(found.length >= 12, `only ${found.length} snippets found in README.md: is the extraction broken?`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saq-readme-'));
  try {
    const files = [];
    for (const { line, code } of found) {
      for (const [re, what] of FORBIDDEN) {
        // not in comments (`// ... as seeds`); a generic call such as
        // fromUrl<typeof functions>( is not a cast
        const text = code.replace(/(^|\s)\/\/.*$/gm, '$1').replace(/\w<typeof \w+>\(/g, '(');
        assert.ok(!re.test(text), `README.md line ${line}: ${what} in\n${code}`);
      }
      const imports = /from 'libsaq'/.test(code) ? '' : `import { ${VALUES.join(', ')} } from 'libsaq';\n`;
      const file = path.join(dir, `readme-line-${line}.mts`);
      // `export {}` makes a snippet without imports a module too: its names stay its own
      fs.writeFileSync(file, `${imports}${code}\nexport {};\n`);
      files.push(file);
    }
    const config = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        types: ['node'],
        typeRoots: [path.join(types, '@types')],
        paths: { libsaq: [path.join(pkg, 'index.d.ts')] },
      },
      files: [...files, path.join(__dirname, 'readme', 'env.d.ts'), path.join(__dirname, 'readme', 'modules.d.ts')],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    // name the README line of each error (the file names carry it)
    const report = `${r.stdout}${r.stderr}`.replace(/[^\s(]*readme-line-(\d+)\.mts\((\d+),(\d+)\)/g,
      (_, at, l, c) => `README.md snippet at line ${at} (its line ${Number(l) - (/from 'libsaq'/.test(found.find((s) => s.line === Number(at)).code) ? 0 : 1)}, col ${c})`);
    assert.equal(r.status, 0, `tsc --strict failed on README.md snippets:\n${report}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
