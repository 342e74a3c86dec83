#!/usr/bin/python3
"""List the public declarations of the library modules that have no doc comment.

    scripts/undocumented.py               # build the symbol graphs, then check
    scripts/undocumented.py --no-build    # check the graphs the last run left
    scripts/undocumented.py Reactor UTP   # only these modules
    scripts/undocumented.py --self-test   # check the checker on scripts/undocumented-fixture

It asks the compiler, not a regular expression: `swift package dump-symbol-graph`
emits every public and open symbol with the doc comment the compiler attached to
it, so attributes between comment and declaration, `public` inside strings or
comments, implicitly public members (protocol requirements, enum cases, members
of `public extension`) and `#if` branches are all handled the way Swift handles
them. `--skip-inherited-docs` keeps a conformance from borrowing its protocol's
comment, and `--skip-synthesized-members` leaves out what the compiler wrote
(synthesised `==`, default implementations from other modules), so what remains
is exactly what a person wrote in Sources/ and must document. A comment
counts only when it opens with a summary: one that starts with `- Parameters:`
(or another callout) gives DocC no abstract and is reported too.

The modules checked are the targets of the package's library products (from
`swift package dump-package`). Prints `file:line: kind name` per symbol and a
count; exits 1 when the count is not zero, so CI fails on a regression.

DocC's own `--experimental-documentation-coverage` was tried first: its table
also lists members inherited from the standard library (Sequence's methods on a
Sequence, SetAlgebra's on an OptionSet) as lacking an abstract, so it cannot be
a gate without this same filtering.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def library_modules():
    """The targets of the package's library products, in product order."""
    out = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    package = json.loads(out)
    modules = []
    for product in package["products"]:
        if "library" in product["type"]:
            for target in product["targets"]:
                if target not in modules:
                    modules.append(target)
    return modules


def graph_directory():
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    # .build/<triple>/debug -> .build/<triple>/symbolgraph
    return os.path.join(os.path.dirname(out), "symbolgraph")


def dump_symbol_graphs():
    result = subprocess.run(["swift", "package", "dump-symbol-graph", "--minimum-access-level", "public",
                             "--skip-synthesized-members", "--skip-inherited-docs"],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit("undocumented: `swift package dump-symbol-graph` failed (output above); fix the build first")


# A comment that opens with a callout has no summary: DocC shows no abstract.
CALLOUT = re.compile(r"-\s*(parameters?|returns|throws|precondition|postcondition|note|important|warning)\b",
                     re.IGNORECASE)


def documented(symbol):
    """True when the symbol's doc comment opens with a summary sentence (an
    empty comment, or one that starts with `- Parameters:` or another callout,
    leaves DocC without an abstract and does not count)."""
    comment = symbol.get("docComment")
    lines = [line.get("text", "").strip() for line in (comment or {}).get("lines", [])]
    lines = [line for line in lines if line]
    return bool(lines) and not CALLOUT.match(lines[0])


def undocumented_symbols(directory, module):
    """Symbols declared in this package's Sources/ without a doc comment.

    A module's own graph is `<Module>.symbols.json`; members it adds to another
    module's types are in `<Module>@<Other>.symbols.json`.
    """
    names = [n for n in os.listdir(directory)
             if n == module + ".symbols.json" or (n.startswith(module + "@") and n.endswith(".symbols.json"))]
    if not names:
        sys.exit(f"undocumented: no symbol graph for {module} in {directory}; run without --no-build")
    sources = os.path.join(ROOT, "Sources") + os.sep
    found = []
    for name in names:
        with open(os.path.join(directory, name)) as f:
            graph = json.load(f)
        for symbol in graph["symbols"]:
            location = symbol.get("location")
            if location is None or symbol.get("accessLevel") not in ("public", "open"):
                continue
            path = location["uri"].removeprefix("file://")
            if not path.startswith(sources) or documented(symbol):
                continue
            line = location["position"]["line"] + 1
            title = ".".join(symbol["pathComponents"])
            found.append((os.path.relpath(path, ROOT), line, symbol["kind"]["displayName"], title))
    return found


def self_test():
    """Checks the report on the fixture package names exactly its lines marked
    `// UNDOCUMENTED` (it is built in a temporary copy, leaving no .build behind)."""
    global ROOT
    fixture = os.path.join(ROOT, "scripts", "undocumented-fixture")
    with tempfile.TemporaryDirectory(prefix="undocumented-self-test-") as directory:
        ROOT = os.path.join(directory, "fixture")
        shutil.copytree(fixture, ROOT)
        source = os.path.join(ROOT, "Sources", "Fixture", "Fixture.swift")
        with open(source) as f:
            expected = {n for n, line in enumerate(f.read().split("\n"), start=1) if line.endswith("// UNDOCUMENTED")}
        dump_symbol_graphs()
        found = {line for _, line, _, _ in undocumented_symbols(graph_directory(), "Fixture")}
    if found != expected:
        print(f"self-test FAILED: missed lines {sorted(expected - found)}, wrongly reported {sorted(found - expected)}")
        return 1
    print(f"self-test passed: exactly the {len(expected)} undocumented declarations of the fixture reported")
    return 0


def main(arguments):
    if "--self-test" in arguments:
        return self_test()
    build = "--no-build" not in arguments
    wanted = [a for a in arguments if not a.startswith("--")]
    modules = wanted or library_modules()
    if build:
        dump_symbol_graphs()
    directory = graph_directory()
    total = 0
    for module in modules:
        found = sorted(set(undocumented_symbols(directory, module)))
        for path, line, kind, title in found:
            print(f"{path}:{line}: {kind} {title}")
        total += len(found)
        print(f"# {module}: {len(found)} undocumented", file=sys.stderr)
    print(f"undocumented public declarations: {total} (modules: {', '.join(modules)})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
