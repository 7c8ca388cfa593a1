#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate abi/saq_ffi.h, saq.h as plain declarations for FFI tools.

    abi/gen-ffi-header.py [SAQ_H [OUT]]     (default: abi/saq.h -> abi/saq_ffi.h; OUT "-" = stdout)

FFI tools that read C declarations but run no preprocessor (Python cffi's
cdef, LuaJIT's ffi.cdef, ...) cannot take saq.h as is: it has an include
guard, #include lines, an SAQ_API macro that is an attribute when libsaq
itself is built, and its constants are #define lines (cffi reads only
`#define NAME <integer literal>`, so not SAQ_EINVAL's `(-1)`; LuaJIT reads
none). The generated header has the same content without any of that: every
function and typedef of saq.h in the same order, SAQ_API gone, and each run of
integer constants as an anonymous enum with the values computed here (C's int:
every constant of saq.h fits). Comments are left out: saq.h documents each
declaration. The one string constant, SAQ_VERSION_STR, is left out too
(saq_version_str() returns it).

The preprocessor directives of saq.h are evaluated for a C compiler that is
not SWIG, not C++ and not building libsaq; a directive or a conditional this
script does not know stops it with an error, so a change to saq.h that needs a
change here cannot go by unnoticed. Only the standard library is used.
`abi/check-abi.sh ffi` (ctest label abi) regenerates the header and fails when
the checked-in copy differs, then has a C compiler check that both headers
declare the same functions with compatible types and the same constants with
the same values.
"""
import ast
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

HEAD = """\
/* SPDX-License-Identifier: MIT */
/*
 * GENERATED from saq.h by abi/gen-ffi-header.py: do not edit (run the script after changing
 * saq.h; `ctest -L abi` fails while this file is stale).
 *
 * libsaq's whole C API as plain declarations, for FFI tools that read C declarations but run no
 * preprocessor: Python cffi's ffi.cdef(), LuaJIT's ffi.cdef(), and the like. No #include, #define
 * or #if, no attributes: the integer constants of saq.h (SAQ_OK, SAQ_E*, SAQ_EVENT_*,
 * SAQ_STATUS_*, ...) are anonymous enums with the same values, and every function and typedef is
 * declared as in saq.h, in the same order. size_t, int64_t and uint64_t are the standard types
 * (<stddef.h>, <stdint.h>; FFI tools know them). SAQ_VERSION_STR is left out: saq_version_str()
 * returns it. Units, ownership, threads and errors of every declaration: saq.h.
 */
"""


def strip_comments(text):
    """Remove /* */ and // comments outside string literals, keeping line breaks."""
    def repl(m):
        s = m.group(0)
        if s.startswith('"'):
            return s
        return "\n" * s.count("\n") if "\n" in s else " "
    return re.sub(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', repl, text, flags=re.S)


def eval_condition(expr, defined):
    """Value of an #if/#elif expression made of defined(X), !, && and ||."""
    py = re.sub(r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)",
                lambda m: str((m.group(1) or m.group(2)) in defined), expr)
    py = py.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    if not re.fullmatch(r"[\s()]*((True|False|and|or|not)[\s()]*)+", py):
        raise SystemExit("gen-ffi-header: cannot evaluate #if %s" % expr)
    return bool(eval(py, {"__builtins__": {}}))  # only True/False/and/or/not, checked above


def eval_constant(name, expr, consts):
    """Integer value of a constant's C expression (literals, earlier constants, + - * << >> | &
    ~ and parentheses), or None when it is not an integer expression (a string)."""
    if expr.lstrip().startswith('"'):
        return None
    e = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b", r"\1", expr)
    ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.LShift: lambda a, b: a << b,
           ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
           ast.BitAnd: lambda a, b: a & b}

    def ev(n):
        if isinstance(n, ast.Constant) and type(n.value) is int:
            return n.value
        if isinstance(n, ast.Name) and n.id in consts:
            return consts[n.id]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.Invert, ast.UAdd)):
            v = ev(n.operand)
            return -v if isinstance(n.op, ast.USub) else ~v if isinstance(n.op, ast.Invert) else v
        if isinstance(n, ast.BinOp) and type(n.op) in ops:
            return ops[type(n.op)](ev(n.left), ev(n.right))
        raise SystemExit("gen-ffi-header: cannot evaluate %s = %s" % (name, expr))

    try:
        tree = ast.parse(e.strip(), mode="eval")
    except SyntaxError:
        raise SystemExit("gen-ffi-header: cannot parse %s = %s" % (name, expr))
    v = ev(tree.body)
    if not -2**31 <= v < 2**31:
        raise SystemExit("gen-ffi-header: %s = %d does not fit in an enum (int)" % (name, v))
    return v


def generate(src):
    text = strip_comments(src)
    defined = set()      # macros defined so far in the active branches
    empty = set()        # macros defined as nothing (SAQ_API): removed from declarations
    consts = {}          # integer constants, name -> value
    out = []             # ("enum", [(name, value)]) or ("decl", text)
    stack = []           # per #if: [this branch active, some branch taken, parent active]
    code = []
    active = True

    def flush_code():
        body = " ".join(code)
        code.clear()
        for m in empty:
            body = re.sub(r"\b%s\b" % m, " ", body)
        for decl in body.split(";"):
            decl = re.sub(r"\s+", " ", decl).strip()
            decl = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", decl))
            if decl:
                out.append(("decl", decl + ";"))

    for line in text.split("\n"):
        m = re.match(r"\s*#\s*(\w+)\s*(.*?)\s*$", line)
        if not m:
            if active and line.strip():
                code.append(line.strip())
            continue
        d, arg = m.group(1), m.group(2)
        if d in ("if", "ifdef", "ifndef"):
            cond = (eval_condition(arg, defined) if d == "if" else
                    (arg in defined) == (d == "ifdef"))
            stack.append([active and cond, cond, active])
        elif d == "elif":
            top = stack[-1]
            cond = not top[1] and eval_condition(arg, defined)
            top[0], top[1] = top[2] and cond, top[1] or cond
        elif d == "else":
            top = stack[-1]
            top[0], top[1] = top[2] and not top[1], True
        elif d == "endif":
            stack.pop()
        elif not active:
            pass
        elif d == "include":
            if arg not in ("<stddef.h>", "<stdint.h>"):
                raise SystemExit("gen-ffi-header: unexpected #include %s" % arg)
        elif d == "define":
            dm = re.match(r"(\w+)(\(?)\s*(.*)$", arg)
            name, fnlike, value = dm.group(1), dm.group(2), dm.group(3)
            if fnlike:
                raise SystemExit("gen-ffi-header: function-like macro %s" % name)
            defined.add(name)
            if not value:
                empty.add(name)
                continue
            v = eval_constant(name, value, consts)
            if v is None:
                continue
            consts[name] = v
            flush_code()
            if out and out[-1][0] == "enum":
                out[-1][1].append((name, v))
            else:
                out.append(("enum", [(name, v)]))
        else:
            raise SystemExit("gen-ffi-header: unexpected #%s %s" % (d, arg))
        active = all(s[0] for s in stack)
    flush_code()
    if stack:
        raise SystemExit("gen-ffi-header: unterminated #if")

    lines = [HEAD]
    for kind, item in out:
        if kind == "enum":
            lines.append("\nenum {\n%s\n};\n\n" % ",\n".join("    %s = %d" % nv for nv in item))
        else:
            lines.append(item + "\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(lines)).rstrip("\n") + "\n"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "saq.h")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "saq_ffi.h")
    with open(src, encoding="utf-8") as f:
        result = generate(f.read())
    if dst == "-":
        sys.stdout.write(result)
    else:
        with open(dst, "w", encoding="utf-8") as f:
            f.write(result)


if __name__ == "__main__":
    main()
