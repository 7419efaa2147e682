#!/usr/bin/env python3
"""Independent verifier of a payment-e2e session folder (docs/evidence-format.md).

Written apart from the TypeScript tool, from the format document alone, so that an auditor can
re-check a session without trusting our code: Python 3.9+, standard library only, one file.

    python3 verifier/verify_session.py <session-dir> [--report docs/PAYMENT_E2E_LIVE_REPORT.md]
                                       [--allowed-signers docs/allowed_signers] [--tsa-ca tsa-ca.pem]

It recomputes the trace chain (and that every line's bytes are the canonical serialisation), the
journal chain, every file hash in the manifest, files added or missing, the manifest's chain heads
and line counts, the session-identity checks, that the notebook agrees with the kernel's copy of its
outputs and the journal, that the HTML export shows each cell as the notebook does (code inputs,
outputs, Markdown cells and outputs by their words and symbols, the cells' order) inside the audit
template's frame (its head and stylesheet, no markup that could hide or add text), that the outcome report.md, the notebook and the HTML state is the one the
journal records stating (`outcome_stated`) (with --report, the session's block there too, when it is
anchored to this seal), that each stated outcome is within what the journal bounds its verdict to (no
money moved: FAIL; never PASS over an impossible backend time, an incomplete run, a step not PASS),
that every re-seal note's replaced chain heads still hold, the seal's SSH
signature (manifest.json.sig, checked with `ssh-keygen -Y verify` against the allowed signers: required
for staging and live), with --report the one strict anchor in the session's block, and with --tsa-ca
the RFC 3161 timestamp beside the manifest (openssl ts -verify, offline).
Prints one line per finding, `ok|WARN|ERROR <file>[:<line>]: <message>[ [CODE]]`, then `verify: OK|FAILED`;
exits 0 (intact), 1 (failed) or 2 (usage). Over the ~300-line guideline on purpose: an auditor gets
one file to read and run.
"""
import argparse
import base64
import hashlib
import html as html_lib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import unquote

GENESIS = "0" * 64
SCHEMA_V2 = "payment-e2e/manifest@2"
SCHEMA_V1 = "payment-e2e/manifest@1"
MANIFEST_FILE = "manifest.json"
TRACE_FILE = "trace.jsonl"
JOURNAL_FILE = "state.jsonl"
QUARANTINE_FILE = "state.quarantine.jsonl"
SIGNATURE_FILE = MANIFEST_FILE + ".sig"
SEAL_NAMESPACE = "payment-e2e-seal@v1"
RESEAL_NAMESPACE = "payment-e2e-reseal@v1"
RESEAL_RE = re.compile(r"^reseal-(\d+)\.json(\.sig)?$")
DEFAULT_ALLOWED_SIGNERS = "docs/allowed_signers"
TSR_FILE = "manifest.json.tsr"
# Files written beside the manifest, over it, and so never listed in it: its timestamp, its signature
# and the re-seal statements (reseal-<k>.json and .sig); see is_seal_companion.
SEAL_COMPANIONS = {TSR_FILE, SIGNATURE_FILE}
NOTEBOOK_FILE, HTML_FILE, REPORT_FILE = "payment-e2e.ipynb", "payment-e2e.html", "report.md"
SESSION_ID_ANY = re.compile(r"\b\d{8}T\d{6}Z(?:-[0-9a-f]{4})?-(?:sandbox|staging|live)\b")

# Finding codes (docs/evidence-format.md, lib/evidence/finding-codes.ts): printed as ` [CODE]` at the
# end of a finding so that both verifiers can be compared by what they found, not by wording.
CODES = ("MANIFEST_INVALID", "CHAIN_BROKEN", "NOT_CANONICAL", "INVALID_UTF8", "FILE_CHANGED", "EXTRA_FILE", "IDENTITY",
         "IDENTITY_LEFTOVER", "ANCHOR_MISMATCH", "ANCHOR_AMBIGUOUS", "ANCHOR_MALFORMED", "TIMESTAMP_INVALID",
         "TIMESTAMP_UNCHECKED", "SIGNATURE_MISSING", "SIGNATURE_INVALID", "SIGNER_NOT_ALLOWED", "RESEAL_BROKEN",
         "NOTEBOOK_DISAGREES", "OUTCOME_MISMATCH", "SIGNER_MISMATCH", "NOTES_UNRECORDED", "HTML_DISAGREES")


def is_seal_companion(name):
    """A top-level file the seal writes beside the manifest, after it: never listed, never an extra file."""
    return name in SEAL_COMPANIONS or RESEAL_RE.match(name) is not None


def chain_code(reason):
    if reason.startswith("not valid UTF-8"):
        return "INVALID_UTF8"
    if reason.startswith("no canonical form") or reason.startswith("bytes differ from the canonical form"):
        return "NOT_CANONICAL"
    return "CHAIN_BROKEN"
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# ------------------------------------------------------------------------------ RFC 8785 (JCS)


class NotCanonicalizable(ValueError):
    """A value that has no canonical JSON form (NaN, Infinity, a number too large for a double)."""


def es_number(x):
    """ECMAScript Number::toString of a double: the number form of RFC 8785 (3.2.2.3).

    Python's repr gives the same shortest round-trip digits but formats them differently
    (`1e-07` vs `1e-7`, `1e+16` vs `10000000000000000`), so only its digits are used.
    """
    if isinstance(x, bool):
        raise NotCanonicalizable("a boolean is not a number")
    try:
        x = float(x)
    except OverflowError:
        raise NotCanonicalizable("integer too large for an IEEE 754 double")
    if x != x or x in (float("inf"), float("-inf")):
        raise NotCanonicalizable("NaN and Infinity are not allowed in evidence")
    if x == 0:
        return "0"  # -0 too
    if x < 0:
        return "-" + es_number(-x)
    m = re.match(r"^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$", repr(x))
    if not m:  # pragma: no cover - repr of a finite positive float always matches
        raise NotCanonicalizable("unexpected float repr %r" % repr(x))
    int_part, frac_part, exp = m.group(1), m.group(2) or "", int(m.group(3) or 0)
    # value = 0.D x 10^n with D the digits without leading zeros (each one stripped lowers n)
    all_digits = int_part + frac_part
    stripped = all_digits.lstrip("0")
    n = len(int_part) + exp - (len(all_digits) - len(stripped))
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return "%se%s%d" % (mant, sign, abs(e))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def jcs_string(s):
    """A string as ECMAScript JSON.stringify writes it: `"` `\\` and U+0000-U+001F escaped only."""
    # json.loads joins escaped surrogate pairs; a surrogate left in a str is lone. RFC 8785 works on
    # I-JSON (RFC 7493), which forbids lone surrogates: such a string has no canonical form.
    if _LONE_SURROGATE.search(s):
        raise NotCanonicalizable("a lone UTF-16 surrogate is not valid in JCS")
    return json.dumps(s, ensure_ascii=False)


def _utf16_key(s):
    return s.encode("utf-16-be", "surrogatepass")


def jcs(v):
    """RFC 8785 canonical JSON of a value parsed by `parse_json` (dict, list, str, int, float, bool, None)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es_number(v)
    if isinstance(v, str):
        return jcs_string(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=_utf16_key)
        return "{" + ",".join(jcs_string(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise NotCanonicalizable("not a JSON value: %r" % type(v).__name__)


def _no_constant(name):
    raise NotCanonicalizable("%s is not allowed in evidence" % name)


def parse_json(text):
    """json.loads without NaN/Infinity; numbers are kept as Python int/float and read as doubles by jcs."""
    return json.loads(text, parse_constant=_no_constant)


def sha256_hex(data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------ chains

# Field order of a line as written (readable), and the fields hashed (sorted by JCS).
CHAINS = {
    TRACE_FILE: ("trace", ["seq", "time", "mono_ms", "type", "payload", "prev", "hash"]),
    JOURNAL_FILE: ("journal", ["seq", "at", "kind", "data", "prev", "hash"]),
}


def hash_input(entry, fields):
    """The canonical JSON that a line's hash covers: every field but `hash`, JCS-sorted."""
    return jcs({f: entry[f] for f in fields if f != "hash"})


def serialize_line(entry, fields):
    """The exact bytes of one line (without newline): fixed field order, canonical values."""
    return "{" + ",".join(jcs_string(f) + ":" + jcs(entry[f]) for f in fields) + "}"


def check_line(raw, line, prev, fields):
    """Returns (entry or None, reason or None) for one line, as the TypeScript chain check does."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8 (edited or truncated)"
    try:
        e = parse_json(text)
    except (ValueError, NotCanonicalizable):
        return None, "not valid JSON (edited or truncated)"
    if not isinstance(e, dict) or not isinstance(e.get("hash"), str) or not isinstance(e.get("prev"), str):
        return None, "not a chained entry (no prev/hash)"
    if any(f not in e for f in fields) or len(e) != len(fields):
        return e, "fields differ from the format (edited)"
    try:
        if serialize_line(e, fields) != text:
            return e, "bytes differ from the canonical form (edited)"
        if e["seq"] != line or isinstance(e["seq"], bool):
            return e, "seq is %s, expected %d (line deleted, inserted or reordered)" % (jcs(e["seq"]), line)
        if e["prev"] != prev:
            return e, "prev does not match the hash of the line before"
        if sha256_hex(hash_input(e, fields)) != e["hash"]:
            return e, "hash does not match the content (edited)"
    except NotCanonicalizable as err:
        return e, "no canonical form: %s" % err
    return e, None


def read_lines(path):
    """(complete lines as bytes, torn last fragment or None); raises OSError."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return [], None
    parts = data.split(b"\n")
    torn = parts.pop()  # b"" after a final newline
    return parts, (torn if torn else None)


def verify_chain(path, fields, expected_lines=None, expected_head=None):
    """Rechecks a chain. Returns dict(ok, lines, head, entries, heads, broken=(line, reason) or None)."""
    res = {"ok": False, "lines": 0, "head": GENESIS, "entries": [], "heads": [GENESIS], "broken": None}
    try:
        lines, torn = read_lines(path)
    except OSError as err:
        res["broken"] = (0, "cannot read: %s" % err.strerror)
        return res
    head = GENESIS
    for i, raw in enumerate(lines):
        n = i + 1
        e, reason = check_line(raw, n, head, fields)
        if reason:
            res["broken"] = (n, reason)
            return res
        head = e["hash"]
        res["entries"].append(e)
        res["heads"].append(head)
        res["lines"], res["head"] = n, head
    if torn is not None:
        res["broken"] = (len(lines) + 1, "incomplete last line (no newline: cut or torn write)")
        return res
    want = expected_lines
    if want is not None and len(lines) < want:
        res["broken"] = (len(lines) + 1, "missing: file ends at line %d, manifest expects %d (tail cut)" % (len(lines), want))
    elif expected_head is not None:
        at = want if want is not None else len(lines)
        if res["heads"][at] != expected_head:
            res["broken"] = (at, "hash of line %d differs from the recorded chain head (chain rewritten)" % at)
    if res["broken"] is None and want is not None and len(lines) > want:
        res["broken"] = (want + 1, "extra: %d line(s) after the manifest's last line %d" % (len(lines) - want, want))
    res["ok"] = res["broken"] is None
    return res


# ------------------------------------------------------------------------------ files

IGNORED_DIRS = {".ipynb_checkpoints", ".virtual_documents", "__pycache__", ".pytest_cache", ".mypy_cache", ".idea",
                ".vscode", ".Trash-0"}
IGNORED_NAMES = [re.compile(p, f) for p, f in [
    (r"~$", 0), (r"^\.#", 0), (r"^#.*#$", 0), (r"^\..*\.sw[a-p]$", 0), (r"^\.~lock\..*#$", 0), (r"^\.DS_Store$", 0),
    (r"^\._", 0), (r"^Thumbs\.db$", re.I), (r"^desktop\.ini$", re.I), (r"\.py[co]$", 0)]]


def is_ignored(rel):
    """Editor, Jupyter and OS leftovers: never evidence (the same rule as the tool's isIgnoredFile)."""
    parts = [p for p in re.split(r"[\\/]", rel) if p]
    if any(d in IGNORED_DIRS for d in parts[:-1]):
        return True
    name = parts[-1] if parts else ""
    return name in IGNORED_DIRS or any(r.search(name) for r in IGNORED_NAMES)


def list_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if not is_ignored(rel_dir + d)]
        for name in filenames:
            rel = rel_dir + name
            if is_ignored(rel) or (rel_dir == "" and (name == MANIFEST_FILE or name.startswith(MANIFEST_FILE + ".tmp")
                                                     or is_seal_companion(name))):
                continue
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                out.append(rel)
    return sorted(out, key=_utf16_key)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------ verify


class Findings:
    def __init__(self):
        self.items = []

    def add(self, level, subject, message, code=None):
        assert code is None or code in CODES, code
        self.items.append((level, subject, message + (" [%s]" % code if code else "")))

    def count(self, level):
        return sum(1 for f in self.items if f[0] == level)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_manifest_fields(m, out):
    """Types of the manifest's fields; returns the schema version (1 or 2), or None when unusable."""
    if not isinstance(m, dict):
        out.add("ERROR", MANIFEST_FILE, "not a JSON object", "MANIFEST_INVALID")
        return None
    if m.get("schema") == SCHEMA_V1:
        version = 1
        out.add("WARN", MANIFEST_FILE, "sealed by an older tool (%s): journal not chained" % SCHEMA_V1)
    elif m.get("schema") == SCHEMA_V2:
        version = 2
    else:
        out.add("ERROR", MANIFEST_FILE, "schema is %s, expected %s" % (json.dumps(m.get("schema")), SCHEMA_V2),
                "MANIFEST_INVALID")
        return None
    need = {"session_id": str, "mode": str, "created_at": str, "retention_until": str, "tool_version": str,
            "trace_file": str, "chain_head": str, "trace_lines": int, "files": list}
    if version == 2:
        need.update({"journal_file": str, "journal_head": str, "journal_lines": int})
    bad = [k for k, t in need.items() if not isinstance(m.get(k), t) or isinstance(m.get(k), bool)]
    if "git_commit" not in m or not (m["git_commit"] is None or isinstance(m["git_commit"], str)):
        bad.append("git_commit")
    for k in ("chain_head", "journal_head"):
        if k in need and isinstance(m.get(k), str) and not HEX64.match(m[k]):
            bad.append(k)
    for k in ("trace_lines", "journal_lines"):
        if k in need and isinstance(m.get(k), int) and not _is_int(m[k]):
            bad.append(k)
    if bad:
        out.add("ERROR", MANIFEST_FILE, "missing or malformed field(s): %s" % ", ".join(sorted(set(bad))),
                "MANIFEST_INVALID")
        return None
    if m["trace_file"] != TRACE_FILE or (version == 2 and m["journal_file"] != JOURNAL_FILE):
        out.add("ERROR", MANIFEST_FILE, "trace_file/journal_file must be %s and %s" % (TRACE_FILE, JOURNAL_FILE),
                "MANIFEST_INVALID")
        return None
    return version


def check_files(session_dir, m, out):
    listed, matched = set(), 0
    entries = m["files"]
    paths = [f.get("path") if isinstance(f, dict) else None for f in entries]
    if all(isinstance(p, str) for p in paths) and paths != sorted(paths, key=_utf16_key):
        out.add("WARN", MANIFEST_FILE, "files are not sorted by path")
    for f in entries:
        p = f.get("path") if isinstance(f, dict) else None
        if not (isinstance(p, str) and p and not p.startswith("/") and ".." not in p.split("/") and "\\" not in p
                and isinstance(f.get("sha256"), str) and HEX64.match(f["sha256"]) and _is_int(f.get("bytes"))):
            out.add("ERROR", MANIFEST_FILE, "malformed files entry %s" % json.dumps(f, sort_keys=True)[:120],
                    "MANIFEST_INVALID")
            continue
        if p in listed:
            out.add("ERROR", p, "listed twice in the manifest", "MANIFEST_INVALID")
            continue
        listed.add(p)
        if is_ignored(p):
            out.add("WARN", p, "an editor or checkpoint file (never evidence): not checked")
            continue
        abs_path = os.path.join(session_dir, *p.split("/"))
        if not os.path.isfile(abs_path):
            out.add("ERROR", p, "missing (listed in the manifest): deleted or moved after the seal of %s" % m["created_at"],
                    "FILE_CHANGED")
            continue
        size = os.path.getsize(abs_path)
        if size == f["bytes"] and file_sha256(abs_path) == f["sha256"]:
            matched += 1
            continue
        grown = False
        if p.endswith(".jsonl") and size > f["bytes"]:
            with open(abs_path, "rb") as fh:
                grown = hashlib.sha256(fh.read(f["bytes"])).hexdigest() == f["sha256"]
        out.add("ERROR", p, ("appended to after sealing: the sealed %d bytes are intact, %d byte(s) follow"
                             % (f["bytes"], size - f["bytes"])) if grown else
                ("edited after sealing: sha256 differs from the manifest (%d -> %d bytes)" % (f["bytes"], size)),
                "FILE_CHANGED")
    for rel in list_files(session_dir):
        if rel not in listed:
            # An error in a sealed folder (issue 24): only the manifest says what the evidence is.
            out.add("ERROR", rel, "extra file, not in the manifest: added after the seal of %s" % m["created_at"],
                    "EXTRA_FILE")
    out.add("ok", "files", "%d of %d hash(es) match" % (matched, len(entries)))


def report_chain(name, chain, out, what):
    if chain["ok"]:
        out.add("ok", name, "%s chain intact, %d line(s), head %s" % (what, chain["lines"], chain["head"]))
        return
    line, reason = chain["broken"]
    out.add("ERROR", "%s:%d" % (name, line) if line > 0 else name, reason, chain_code(reason))


def check_identity(session_dir, m, trace, journal_entries, out):
    """Folder name == manifest == journal == every trace session event; modes agree; id ends with -<mode>."""
    sid, mode = m["session_id"], m["mode"]
    errors_before = out.count("ERROR")

    def err(subject, message):
        out.add("ERROR", subject, message, "IDENTITY")

    folder = os.path.basename(os.path.normpath(os.path.abspath(session_dir)))
    if folder != sid:
        err(MANIFEST_FILE, "session_id %s differs from the folder name %s (session relabelled or swapped)"
                % (sid, folder))
    if not sid.endswith("-" + mode):
        err(MANIFEST_FILE, "session_id %s does not end with -%s (the manifest's mode)" % (sid, mode))
    first = journal_entries[0] if journal_entries else None
    if first is None:
        err(JOURNAL_FILE, "no journal entries: the session_created entry is missing")
    else:
        data = first.get("data") if isinstance(first.get("data"), dict) else {}
        if first.get("kind") != "session_created":
            err(JOURNAL_FILE + ":1", "first entry is %s, expected session_created" % json.dumps(first.get("kind")))
        elif data.get("sessionId") != sid:
            err(JOURNAL_FILE + ":1", "sessionId %s differs from the manifest's %s (files swapped)"
                    % (json.dumps(data.get("sessionId")), sid))
        elif data.get("mode") != mode:
            err(JOURNAL_FILE + ":1", "mode %s differs from the manifest's %s" % (json.dumps(data.get("mode")), mode))
    sessions = 0
    for e in trace:
        if e.get("type") != "session":
            continue
        sessions += 1
        p = e.get("payload") if isinstance(e.get("payload"), dict) else {}
        where = "%s:%d" % (TRACE_FILE, e["seq"])
        if p.get("session_id") != sid:
            err(where, "session event for %s, manifest says %s (files swapped)" % (json.dumps(p.get("session_id")), sid))
        elif p.get("mode") != mode:
            err(where, "session event in mode %s, manifest says %s" % (json.dumps(p.get("mode")), mode))
    if trace and sessions == 0:
        err(TRACE_FILE, "no session event: the trace does not say which session it belongs to")
    if out.count("ERROR") == errors_before:
        out.add("ok", "session", "%s: folder, manifest, journal and %d trace session event(s) agree (mode %s)"
                % (sid, sessions, mode))


def check_leftover_ids(session_dir, sid, out):
    """The notebook, HTML export and report.md must name this session if they name any (a relabelled copy keeps the old id)."""
    for rel in (NOTEBOOK_FILE, HTML_FILE, REPORT_FILE):
        full = os.path.join(session_dir, rel)
        if not os.path.isfile(full):
            continue
        with open(full, "rb") as f:
            named = set(SESSION_ID_ANY.findall(f.read().decode("utf-8", "replace")))
        if named and sid not in named:
            out.add("ERROR", rel, "names session %s, never %s: a copy relabelled from another session"
                    % (", ".join(sorted(named)), sid), "IDENTITY_LEFTOVER")


def check_quarantine(session_dir, journal_entries, out):
    repairs = [e for e in journal_entries if e.get("kind") == "journal_repaired"]
    if not repairs:
        return
    qpath = os.path.join(session_dir, QUARANTINE_FILE)
    records = []
    try:
        lines, _ = read_lines(qpath)
        records = [parse_json(r.decode("utf-8")) for r in lines if r.strip()]
    except (OSError, ValueError, NotCanonicalizable):
        pass
    for e in repairs:
        d = e.get("data") if isinstance(e.get("data"), dict) else {}
        if not any(isinstance(r, dict) and r.get("sha256") == d.get("sha256") and r.get("bytes") == d.get("bytes")
                   for r in records):
            out.add("WARN", "%s:%d" % (JOURNAL_FILE, e["seq"]),
                    "journal_repaired: no record of the torn fragment (sha256 %s) in %s" % (d.get("sha256"), QUARANTINE_FILE))
        else:
            out.add("ok", "%s:%d" % (JOURNAL_FILE, e["seq"]), "torn tail repaired, fragment kept in %s" % QUARANTINE_FILE)


# ------------------------------------------------------------------------------ re-seals and signatures


def check_reseals(trace_entries, journal_entries, out):
    """Each re-seal note's replaced seal: its chain heads must still be the hashes at its line counts."""
    def head_at(entries, n):
        if n == 0:
            return GENESIS
        return entries[n - 1].get("hash") if 0 < n <= len(entries) else None

    for e in trace_entries:
        p = e.get("payload") if isinstance(e.get("payload"), dict) else {}
        if e.get("type") != "note" or not isinstance(p.get("previous_manifest_sha256"), str):
            continue
        at = "%s:%d" % (TRACE_FILE, e["seq"])
        old = p["previous_manifest_sha256"][:12]
        if not isinstance(p.get("previous_trace_head"), str) or not _is_int(p.get("previous_trace_lines")):
            out.add("ERROR", at, "re-seal note over manifest %s... does not record the replaced seal's chain heads: "
                    "it cannot prove what it replaced" % old, "RESEAL_BROKEN")
            continue
        checks = [(TRACE_FILE, trace_entries, p["previous_trace_head"], p["previous_trace_lines"])]
        if isinstance(p.get("previous_journal_head"), str) and _is_int(p.get("previous_journal_lines")):
            checks.append((JOURNAL_FILE, journal_entries, p["previous_journal_head"], p["previous_journal_lines"]))
        ok = True
        for name, entries, head, n in checks:
            if head_at(entries, n) != head:
                ok = False
                out.add("ERROR", "%s:%d" % (name, n), "hash of line %d differs from the chain head of the seal "
                        "(manifest %s...) that the re-seal at %s replaced: a sealed line was rewritten" % (n, old, at),
                        "RESEAL_BROKEN")
        if ok:
            out.add("ok", at, "re-seal over manifest %s...: its sealed lines are intact" % old)


def check_signature(path, allowed, namespace):
    """('unsigned',) | ('good', signer, key) | ('bad', why, code), with ssh-keygen -Y find-principals / verify."""
    sig = path + ".sig"
    if not os.path.isfile(sig):
        return ("unsigned",)
    try:
        with open(allowed, "r", encoding="utf-8") as f:
            signers = [l for l in f.read().split("\n") if l.strip() and not l.strip().startswith("#")]
    except OSError:
        return ("bad", "%s not found: pass --allowed-signers <file>" % allowed, "SIGNER_NOT_ALLOWED")
    if not signers:
        return ("bad", "%s lists no signer: add the operator's public key (see the file's header)" % allowed,
                "SIGNER_NOT_ALLOWED")
    try:
        found = subprocess.run(["ssh-keygen", "-Y", "find-principals", "-s", sig, "-f", allowed],
                               capture_output=True, text=True, timeout=30)
    except OSError as err:
        return ("bad", "ssh-keygen not available (%s): OpenSSH >= 8.2" % err, "SIGNATURE_INVALID")
    principals = [l.strip() for l in found.stdout.split("\n") if l.strip()] if found.returncode == 0 else []
    if not principals:
        return ("bad", "signed by a key not in %s (or not a signature)" % allowed, "SIGNER_NOT_ALLOWED")
    with open(path, "rb") as f:
        data = f.read()
    v = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", principals[0], "-n", namespace, "-s", sig],
                       input=data, capture_output=True, timeout=30)
    said = (v.stdout + v.stderr).decode("utf-8", "replace")
    if v.returncode != 0:
        last = [l for l in said.strip().split("\n") if l][-1:] or [""]
        return ("bad", "signature by %s does not verify over %s in namespace %s: %s"
                % (principals[0], os.path.basename(path), namespace, last[0]), "SIGNATURE_INVALID")
    m = re.search(r"with (\S+ key \S+)", said)
    key = m.group(1) if m else "key"
    # ssh-keygen names the first line listing the key: one key under two names (two lines, or
    # "alice,bob"), or under a pattern, makes that name a guess at who signed.
    names = identities_of(signers, key)
    if len(names) > 1 or any(re.search(r"[*?!]", n) for n in names):
        return ("bad", "the signing key (%s) is listed in %s for %s: a seal must name the one person who signed it"
                " \u2014 give each signer a key of their own, listed once under their own identity"
                % (key, allowed, ", ".join(json.dumps(n) for n in names)), "SIGNER_NOT_ALLOWED")
    return ("good", principals[0], key)


SIGNER_LINE = re.compile(r'^\s*("[^"]*"|\S+)\s.*?\b(?:ssh|ecdsa|sk)-[\w@.-]+\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)')


def identities_of(lines, fingerprint):
    """Every identity the allowed-signers lines give the key `fingerprint` ("ED25519 key SHA256:..."), in order."""
    want = fingerprint.split(" ")[-1]
    names = []
    for line in lines:
        m = SIGNER_LINE.match(line)
        if not m:
            continue
        try:
            blob = base64.b64decode(m.group(2))
        except ValueError:
            continue
        fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        if fp != want:
            continue
        for n in m.group(1).strip('"').split(","):
            if n.strip() and n.strip() not in names:
                names.append(n.strip())
    return names


def check_statements(session_dir, trace_entries, manifest_sha, out):
    """Staging/live: re-seal statement k names the manifest that re-seal note k replaced; the newest the current one."""
    notes = [(e["seq"], e["payload"]["previous_manifest_sha256"]) for e in trace_entries
             if e.get("type") == "note" and isinstance(e.get("payload"), dict)
             and isinstance(e["payload"].get("previous_manifest_sha256"), str)]
    stmts = sorted(((int(RESEAL_RE.match(n).group(1)), n) for n in os.listdir(session_dir)
                    if RESEAL_RE.match(n) and not n.endswith(".sig")))

    def read(name):
        try:
            with open(os.path.join(session_dir, name), "rb") as f:
                v = parse_json(f.read().decode("utf-8"))
            return v if isinstance(v, dict) else None
        except (OSError, ValueError, NotCanonicalizable):
            return None

    for i, (seq, sha) in enumerate(notes):
        name = "reseal-%d.json" % (i + 1)
        st = read(stmts[i][1]) if i < len(stmts) and stmts[i][0] == i + 1 else None
        if st is None:
            out.add("ERROR", name, "missing or unreadable: the re-seal at %s:%d has no signed statement" % (TRACE_FILE, seq),
                    "RESEAL_BROKEN")
        elif st.get("previous_manifest_sha256") != sha:
            out.add("ERROR", name, "names the replaced manifest %s..., the re-seal at %s:%d names %s..."
                    % (str(st.get("previous_manifest_sha256"))[:12], TRACE_FILE, seq, sha[:12]), "RESEAL_BROKEN")
    if len(stmts) > len(notes):
        out.add("ERROR", stmts[len(notes)][1], "a re-seal statement with no re-seal note in %s" % TRACE_FILE,
                "RESEAL_BROKEN")
    newest = read(stmts[-1][1]) if stmts else None
    if newest is not None and len(stmts) == len(notes) and newest.get("manifest_sha256") != manifest_sha:
        out.add("ERROR", stmts[-1][1], "names the new manifest %s..., but %s is %s..."
                % (str(newest.get("manifest_sha256"))[:12], MANIFEST_FILE, manifest_sha[:12]), "RESEAL_BROKEN")


def check_signatures(session_dir, m, allowed, out):
    """The seal's signature (required for staging and live) and every re-seal statement's; returns the seal's check."""
    strict = m["mode"] != "sandbox"
    seal = r = check_signature(os.path.join(session_dir, MANIFEST_FILE), allowed, SEAL_NAMESPACE)
    if r[0] == "good":
        out.add("ok", SIGNATURE_FILE, "sealed by %s (%s), allowed in %s" % (r[1], r[2], allowed))
    elif r[0] == "bad":
        out.add("ERROR", SIGNATURE_FILE, r[1], r[2])
    elif strict:
        out.add("ERROR", SIGNATURE_FILE, "a %s seal must be signed by an allowed signer and this one is unsigned "
                "(sealed before signatures, or without a key)" % m["mode"], "SIGNATURE_MISSING")
    else:
        out.add("ok", SIGNATURE_FILE, "unsigned (sandbox seals may be)")
    names = sorted((n for n in os.listdir(session_dir) if RESEAL_RE.match(n) and not n.endswith(".sig")),
                   key=lambda n: int(RESEAL_RE.match(n).group(1)))
    for name in names:
        r = check_signature(os.path.join(session_dir, name), allowed, RESEAL_NAMESPACE)
        if r[0] == "good":
            out.add("ok", name + ".sig", "re-seal signed by %s (%s)" % (r[1], r[2]))
        elif r[0] == "bad":
            out.add("ERROR", name + ".sig", r[1], r[2])
        elif strict:
            out.add("ERROR", name + ".sig", "a %s re-seal must be signed by an allowed signer" % m["mode"],
                    "SIGNATURE_MISSING")
    return seal


ANCHOR_RE = re.compile(r"Anchor ?:.*?manifest sha256\s*`([0-9a-f]{64})`.*?trace head\s*`([0-9a-f]{64})`\s*\((\d+) lines?\)"
                       r"(?:.*?journal head\s*`([0-9a-f]{64})`\s*\((\d+) lines?\))?")
OUTPUTS_FILE = "outputs.jsonl"
NOTEBOOK_FILE = "payment-e2e.ipynb"
PAY_LINK_SECRET = re.compile(r"(client_secret(?:=|%3D))([^\s\"'<>()\[\]{},;&|?#\\]+)", re.I)
CELL_CALLS = [("paid", r"\bnb\.paid\("), ("pay", r"\bnb\.pay\("), ("paste", r"\bnb\.pasteTransfer\("),
              ("plot", r"\bnb\.plot\("), ("report", r"\bnb\.report\("), ("open", r"\bopenNotebook\(")]
OUTCOME_RE = re.compile(r"Outcome:\**\s*(?:\S+\s+)?(PASS|FAIL|PARTIAL)\b")


def _joined(v):
    return "".join(v) if isinstance(v, list) else (v if isinstance(v, str) else "")


def _mask(s):
    return PAY_LINK_SECRET.sub(lambda m: m.group(1) + "[REDACTED]", s)


def cell_key(source):
    """The runbook cell a source is, by the call it makes (docs/evidence-format.md, outputs.jsonl)."""
    code = re.sub(r"//.*$", "", source, flags=re.M)
    m = re.search(r"\bnb\.run\(\s*[\"'`]([\w-]+)[\"'`]", code)
    if m:
        return "run:" + m.group(1)
    for key, pat in CELL_CALLS:
        if re.search(pat, code):
            return key
    return None


def shown_in_cell(cell):
    out = []
    for o in cell.get("outputs") or []:
        if o.get("output_type") == "stream":
            out.append(("text", _mask(_joined(o.get("text")))))
            continue
        d = o.get("data") or {}
        if "text/markdown" in d:
            out.append(("markdown", _mask(_joined(d["text/markdown"]))))
        elif "image/png" in d:
            out.append(("png", re.sub(r"\s", "", _joined(d["image/png"]))))
        elif "text/plain" in d:
            out.append(("text", _mask(_joined(d["text/plain"]))))
    return out


def read_kernel_copy(path):
    """What each cell shows after its latest call: {cell: [(kind, data), ...]} in outputs.jsonl order."""
    cells, calls, by_display = {}, {}, {}
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    for raw in text.split("\n"):
        if not raw.strip():
            continue
        try:
            l = json.loads(raw)
        except ValueError:
            continue
        if l.get("event") == "call":
            cells.pop(l.get("cell"), None)
            cells[l.get("cell")] = []
            calls[l.get("cell")] = l.get("call")
        elif l.get("event") == "output" and calls.get(l.get("cell")) == l.get("call") and l.get("cell") in cells:
            shown = [l.get("kind"), l.get("data")]
            if l.get("display") and l["display"] in by_display:
                by_display[l["display"]][0], by_display[l["display"]][1] = shown
                continue
            cells[l["cell"]].append(shown)
            if l.get("display"):
                by_display[l["display"]] = shown
    return {k: [tuple(x) for x in v] for k, v in cells.items()}


def _shows_result(text, r):
    label = ("" if r.get("step") == 0 else "%s. " % r.get("step")) + str(r.get("name") or "")
    label = re.sub(r"([|\[\]<>\\])", r"\\\1", label)
    return re.search(r"\| %s \| \S+ %s \|" % (re.escape(label), re.escape(str(r.get("status")))), text) is not None


def check_outputs(session_dir, journal_entries, out):
    """The notebook shows what the kernel displayed (outputs.jsonl), the same outcome, and every step
    result of the journal (docs/evidence-format.md, "The kernel's copy of the outputs")."""
    try:
        with open(os.path.join(session_dir, NOTEBOOK_FILE), "r", encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError):
        return
    copy = read_kernel_copy(os.path.join(session_dir, OUTPUTS_FILE))
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code" and cell_key(_joined(c.get("source")))]
    problems = []
    if copy is not None:
        total = sum(len(v) for v in copy.values())
        parts, missing_all = [], 0
        for key, outs in copy.items():
            if not outs:
                continue
            cells = [c for c in code if cell_key(_joined(c.get("source"))) == key]
            cell = cells[0] if cells else None
            have = [o for c in cells for o in shown_in_cell(c)]
            missing = sum(1 for o in outs if o not in have)
            if missing:
                missing_all += missing
                parts.append("%s %d/%d%s" % (key, missing, len(outs), "" if cell else " (no such cell)"))
        if missing_all:
            problems.append("%s lacks %d of the %d output(s) the kernel displayed (%s), by cell: %s"
                            % (NOTEBOOK_FILE, missing_all, total, OUTPUTS_FILE, ", ".join(parts)))
        k = OUTCOME_RE.findall("\n".join(d for _, d in copy.get("open", [])))
        open_cell = next((c for c in code if cell_key(_joined(c.get("source"))) == "open"), None)
        n = OUTCOME_RE.findall("\n".join(d for _, d in shown_in_cell(open_cell))) if open_cell else []
        if k and n and k[-1] != n[-1]:
            problems.append("%s shows outcome %s, the kernel displayed %s" % (NOTEBOOK_FILE, n[-1], k[-1]))
    blank = bool(code) and all(not c.get("outputs") for c in code)
    if copy is not None or blank:
        latest = {}
        for e in journal_entries:
            d = e.get("data") if isinstance(e.get("data"), dict) else {}
            if e.get("kind") == "step_result":
                latest[d.get("step")] = d
        expected = [r for r in latest.values() if r.get("status") != "INTERRUPTED"]
        text = "\n".join(d for c in nb.get("cells", []) for _, d in shown_in_cell(c))
        absent = [r for r in expected if not _shows_result(text, r)]
        if absent:
            problems.append("%s shows %d of the journal's %d step result(s); not shown: %s"
                            % (NOTEBOOK_FILE, len(expected) - len(absent), len(expected),
                               ", ".join("step %s %s" % (r.get("step"), r.get("status")) for r in absent)))
    for p in problems:
        out.add("ERROR", NOTEBOOK_FILE, p, "NOTEBOOK_DISAGREES")
    if not problems and copy is not None:
        out.add("ok", NOTEBOOK_FILE, "shows every output the kernel displayed (%s) and every step result of the journal" % OUTPUTS_FILE)


# ------------------------------------------------------------------------------ the operator's note

# JavaScript's \s and String.prototype.trim (WhiteSpace and LineTerminator), not Python's isspace,
# and its `.` (anything but a line terminator), so both verifiers read a parameters cell alike.
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_WS = "[" + JS_SPACE + "]"
_DOT = "[^\n\r\u2028\u2029]"
NOTES_ASSIGN = re.compile("(?:^|[" + JS_SPACE + ";])(?:(?:let|var|const)" + _WS + "+)?OPERATOR_NOTES" + _WS + "*(?::" + _WS
                          + "*string" + _WS + "*)?=" + _WS + "*")
NOTES_REST = re.compile("^" + _WS + "*;?" + _WS + "*(//" + _DOT + "*)?$")
NOTES_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f", "v": "\v"}


def _string_literal(s, at):
    """A plain string literal at s[at] and where it ends, or None (an expression, `${...}`, an odd escape)."""
    q = s[at] if at < len(s) else ""
    if q not in ('"', "'", "`"):
        return None
    out, i = [], at + 1
    while i < len(s):
        c = s[i]
        if c == q:
            return "".join(out), i + 1
        if c == "\n" and q != "`":
            return None
        if q == "`" and c == "$" and s[i + 1:i + 2] == "{":
            return None
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(s):
            return None
        e = s[i]
        if e == "u":
            h = s[i + 1:i + 5]
            if not re.match(r"^[0-9a-fA-F]{4}$", h):
                return None
            out.append(chr(int(h, 16)))
            i += 4
        elif e == "\n":
            pass
        elif e in NOTES_ESCAPES:
            out.append(NOTES_ESCAPES[e])
        elif e in "\\'\"`$":
            out.append(e)
        else:
            return None
        i += 1
    return None


def notes_in_notebook(nb):
    """OPERATOR_NOTES as the parameter cells give it (the last assignment): (value or None,) or None."""
    found = None
    for c in nb.get("cells") or []:
        tags = (c.get("metadata") or {}).get("tags") or []
        if c.get("cell_type") != "code" or not ("parameters" in tags or "injected-parameters" in tags):
            continue
        src = _joined(c.get("source"))
        for m in NOTES_ASSIGN.finditer(src):
            lit = _string_literal(src, m.end())
            rest = src[lit[1]:].split("\n")[0] if lit else ""
            found = (lit[0] if lit and NOTES_REST.fullmatch(rest) else None,)
    return found


def check_notes(session_dir, trace_entries, journal_entries, out):
    """The sealed notebook's OPERATOR_NOTES is among the notes the journal and the trace recorded
    (docs/evidence-format.md, NOTES_UNRECORDED): else the notebook and its HTML show a note report.md lacks."""
    try:
        with open(os.path.join(session_dir, NOTEBOOK_FILE), "r", encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError):
        return
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return
    shown = notes_in_notebook(nb)
    if shown is None:
        return
    if shown[0] is None:
        out.add("WARN", NOTEBOOK_FILE, "OPERATOR_NOTES is not a plain string (an expression, or a template with a placeholder): whether report.md holds it cannot be told")
        return
    note = shown[0].strip(JS_SPACE)
    recorded = []
    for e in journal_entries[:1]:
        d = e.get("data") if isinstance(e.get("data"), dict) else {}
        if e.get("kind") == "session_created" and isinstance(d.get("operator_notes"), str):
            recorded.append(d["operator_notes"])
    for e in trace_entries:
        p = e.get("payload")
        if isinstance(p, dict) and p.get("source") == "operator" and isinstance(p.get("text"), str):
            recorded.append(p["text"])
    if not note or any(r.strip(JS_SPACE) == note for r in recorded if r):
        return
    # Its length in UTF-16 code units, as the other verifier counts it; the note itself is never quoted.
    units = len(note.encode("utf-16-le")) // 2
    out.add("ERROR", NOTEBOOK_FILE, "OPERATOR_NOTES (%d characters) is in neither the journal nor the trace: it was typed after "
            "the session cell last ran, so the notebook and its HTML export show a note that report.md lacks" % units,
            "NOTES_UNRECORDED")


# ------------------------------------------------------------------------------ the HTML export's outputs
# docs/evidence-format.md, "The HTML export's agreement": each code cell of the page (the audit
# template's `main > .jp-CodeCell`) shows, output by output (`.jp-OutputArea-child`), what the
# notebook's cell shows. Streams, errors and text/plain exactly (text, ends trimmed, ANSI codes
# removed as nbconvert removes them), PNG and JPEG by the SHA-256 of their bytes; Markdown, which
# this verifier cannot render as the page's renderer does, by its words and symbols (see the doc).

_ANSI_PAT = re.compile("\x1b\\[(.*?)([@-~])")
_CR_OVERWRITE = re.compile(r".*\r(?=[^\n])")
_MD_DROPPED = (re.compile(r"<!--\s*/?(?:session|sessions|notes):[^<>]*-->"),  # marker comments: hidden
               re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S.*$", re.M),  # link reference definitions: hidden
               re.compile(r"</?sub>|<a id=\"[\w-]+\">(?:</a>)?|</a>"),  # the runbook's own raw tags
               # Images (compared by their bytes) and a link's destination (its text stays); not when
               # the bracket is backslash-escaped: then it is text, shown as written.
               re.compile(r"(?<!\\)!\[(?:[^\]\\]|\\.)*\]\((?:[^()\s]|\((?:[^()\s]|\([^()\s]*\))*\))*\)"),
               re.compile(r"(?<!\\)\]\((?:[^()\s]|\((?:[^()\s]|\([^()\s]*\))*\))*(?:\s+\"[^\"]*\")?\)"),
               re.compile(r"^[ \t>]*\d+[.)][ \t]", re.M),  # an ordered list's numbers
               re.compile(r"^[ \t>]*[-*+][ \t]+\[[ xX]\]", re.M))  # a task list's box
_WORD = re.compile(r"[^\W_]+|[^\w\s\x00-\x7f]")


def _markupsafe_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace('"', "&#34;")


def _nbconvert_text(s):
    return html_lib.unescape(_ANSI_PAT.sub("", _markupsafe_escape(s))).strip()


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")


def _md_words(md):
    """The words and symbols a Markdown text shows: a fenced code block's lines as written (nothing
    in one is markup or an entity), the rest with the markup above dropped and entities decoded."""
    words, prose, fence = [], [], None

    def flush():
        # Code spans show their text (entities decoded, nothing else read); the prose between them
        # loses the markup above, then its backslash escapes are literal characters.
        parts = _CODE_SPAN.split("\n".join(prose))
        for i, part in enumerate(parts):
            if i % 3 == 2:
                words.extend(_WORD.findall(html_lib.unescape(part)))
            elif i % 3 == 0:
                for pat in _MD_DROPPED:
                    part = pat.sub(" ", part)
                part = _BACKSLASH.sub(lambda m: "&amp;" if m.group(1) == "&" else m.group(1), part)
                words.extend(_WORD.findall(html_lib.unescape(part)))
        prose.clear()

    for line in md.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m and not (m.group(1)[0] == "`" and "`" in line[m.end():]):
            flush()
            fence = m.group(1)
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line[m.end():].strip():
            fence = None
        elif fence is not None:
            words.extend(_WORD.findall(line))
        else:
            prose.append(line)
    flush()
    return words


def _data_hash(src):
    m = re.match(r"^data:([^,]*),(.*)$", src.strip(), re.S)
    if not m:
        return sha256_hex(("not a data: URL " + src).encode("utf-8"))
    if m.group(1).lower().endswith(";base64"):
        b64 = re.sub(r"[^A-Za-z0-9+/]", "", m.group(2))
        return sha256_hex(base64.b64decode(b64 + "=" * (-len(b64) % 4)))
    return sha256_hex(unquote(m.group(2)).encode("utf-8"))


def page_code_cells(page):
    """[[{"text", "words", "images"}]]: the page's code cells, each its outputs in order."""

    class P(HTMLParser):
        VOID = {"img", "br", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}

        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.stack, self.cells, self.out, self.hidden = [], [], None, 0

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            cls = (a.get("class") or "").split()
            parent = self.stack[-1] if self.stack else None
            if tag == "img" and self.out is not None:
                self.out["images"].append(_data_hash(a.get("src") or ""))
            if tag in self.VOID:
                return
            role = None
            if "jp-CodeCell" in cls and parent and parent[0] == "main":
                role = "cell"
                self.cells.append([])
            elif "jp-OutputArea-child" in cls and parent and "jp-OutputArea" in parent[1] and self.cells and self.out is None:
                role = "out"
                self.out = {"text": "", "hidden": "", "images": []}
                self.cells[-1].append(self.out)
            if "neutralised" in cls:
                self.hidden += 1
            self.stack.append((tag, cls, role))

        def handle_endtag(self, tag):
            if not any(t == tag for t, _, _ in self.stack):
                return  # a stray end tag closes nothing
            while self.stack:
                t, cls, role = self.stack.pop()
                if "neutralised" in cls:
                    self.hidden -= 1
                if role == "out":
                    self.out = None
                if t == tag:
                    break

        def handle_data(self, data):
            if self.out is not None:
                self.out["text"] += data
                if not self.hidden:
                    self.out["hidden"] += data

    p = P()
    p.feed(page)
    p.close()
    return [[{"text": o["text"].strip(), "words": _WORD.findall(o["hidden"]), "images": o["images"]} for o in c]
            for c in p.cells]


def expected_outputs(cell, merged=False):
    outs = []
    for o in cell.get("outputs") or []:
        if merged and outs and o.get("output_type") == "stream" and outs[-1].get("output_type") == "stream" \
                and outs[-1].get("name") == o.get("name"):
            outs[-1] = dict(outs[-1], text=_joined(outs[-1].get("text")) + _joined(o.get("text")))
        else:
            outs.append(o)
    res = []
    for o in outs:
        t = o.get("output_type")
        if t == "stream":
            if o.get("name") == "stdin":  # an empty output: nbconvert shows no stdin
                res.append({"text": "", "images": []})
                continue
            s = _joined(o.get("text"))
            res.append({"text": _nbconvert_text(_CR_OVERWRITE.sub("", s) if merged else s), "images": []})
        elif t == "error":
            res.append({"text": _nbconvert_text("\n".join(o.get("traceback") or [])), "images": []})
        elif t in ("display_data", "execute_result"):
            d = o.get("data") or {}
            if "text/markdown" in d:
                res.append({"words": _md_words(_joined(d["text/markdown"])), "images": None})
            elif "image/png" in d or "image/jpeg" in d:
                b64 = re.sub(r"[^A-Za-z0-9+/=]", "", _joined(d.get("image/png", d.get("image/jpeg"))))
                res.append({"text": "", "images": [_data_hash("data:x;base64," + b64)]})
            elif "text/plain" in d:
                res.append({"text": _joined(d["text/plain"]).strip(), "images": []})
            else:
                res.append({"images": None})  # SVG, HTML, other: counted, not compared here
        else:
            res.append({"images": None})
    return res


def _cell_difference(page, nb):
    for i, (p, n) in enumerate(zip(page, nb)):
        if "words" in n:
            if p["words"] != n["words"]:
                j = next((k for k, (a, b) in enumerate(zip(p["words"], n["words"])) if a != b),
                         min(len(p["words"]), len(n["words"])))
                return "output %d of %d: at word %d the HTML shows %s, the notebook %s" % (
                    i + 1, len(nb), j + 1, quoted(" ".join(p["words"][j:j + 8]), 80),
                    quoted(" ".join(n["words"][j:j + 8]), 80))
        elif "text" in n and p["text"] != n["text"]:
            j = next((k for k, (a, b) in enumerate(zip(p["text"], n["text"])) if a != b),
                     min(len(p["text"]), len(n["text"])))
            return "output %d of %d: at character %d the HTML shows %s, the notebook %s" % (
                i + 1, len(nb), j + 1, quoted(p["text"][max(0, j - 30):j + 50], 80),
                quoted(n["text"][max(0, j - 30):j + 50], 80))
        if n.get("images") is not None and p["images"] != n["images"]:
            return "output %d of %d: the HTML shows %d image(s), the notebook %d other(s)" % (
                i + 1, len(nb), len(p["images"]), len(n["images"]))
    if len(page) != len(nb):
        return "the HTML shows %d output(s), the notebook %d" % (len(page), len(nb))
    return None


# The page's frame (docs/evidence-format.md, "The HTML export"): the template's head with one of the
# project's stylesheets, a header and `main` holding one cell per notebook cell in order, only the
# markup the renderer and nbconvert write (no style but nbconvert's ANSI colours, no hidden, no class
# the stylesheet hides around text), no text or image outside a compared part; code inputs exactly,
# Markdown cells by their words, raw cells exactly.
KNOWN_STYLESHEETS = {"138abc08578d797b373958342ae6edec473cceb12f2f37cdd52feb31db18caed",
                     "123f0216ff2822561d800770b858880892bffacc8ba8f5788b182a218e4e4b78"}
_HEAD = [("meta", [("charset", "utf-8")]),
         ("meta", [("content", "default-src 'none'; img-src data:; style-src 'unsafe-inline'"),
                   ("http-equiv", "Content-Security-Policy")]),
         ("meta", [("content", "no-referrer"), ("name", "referrer")]),
         ("meta", [("content", "width=device-width, initial-scale=1"), ("name", "viewport")]),
         ("title", []), ("style", [])]
_BODY_TAGS = set("header main div span pre code p h1 h2 h3 h4 h5 h6 ul ol li blockquote table thead tbody tr th "
                 "td strong em del a img br hr input sub".split())
_ATTRS = {"div": {"id", "data-mime-type", "data-type"}, "a": {"id", "href", "rel"}, "img": {"src", "alt"},
          "input": {"type", "checked", "disabled"}, "ol": {"start"}, "th": {"align"}, "td": {"align"},
          "span": {"style"}}
_HIDING = ("jp-Collapser", "jp-InputPrompt", "jp-OutputPrompt")
_ANSI_STYLE = re.compile(r"^(?:color: rgb\(\d{1,3},\d{1,3},\d{1,3}\)(?:; |$))?(?:background-color: rgb\(\d{1,3},\d{1,3},\d{1,3}\))?$")
_EXTENDED_COLOUR = re.compile("\x1b\\[[\\d;]*[34]8;")
AUDIT_NOTE_START = "Audit export of the executed notebook:"


def page_frame(page):
    """(problem or None, [{"kind", "text", "styled"}]): the page's frame checked, each cell's kind, the text
    of its compared input or Markdown or raw part, and whether its outputs hold a colour style."""

    class P(HTMLParser):
        VOID = {"img", "br", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}

        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.stack, self.head, self.cells, self.problem = [], [], [], None
            self.texts = {}  # id(part) -> text
            self.title = self.h1 = self.note = self.css = ""

        def bad(self, msg):
            self.problem = self.problem or msg

        def where(self):
            return [e[0] for e in self.stack]

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            cls = (a.get("class") or "").split()
            tags = self.where()
            if tag == "html":
                if sorted(attrs) != [("lang", "en")]:
                    self.bad("its <html> element carries other attributes")
            elif tag in ("head", "body"):
                if attrs:
                    self.bad("its <%s> element carries attributes" % tag)
            elif "head" in tags or (tag in ("meta", "title", "style") and "body" not in tags):
                self.head.append((tag, sorted((k, v or "") for k, v in attrs)))
            else:
                if tag not in _BODY_TAGS:
                    self.bad("it holds a <%s> element the audit template never writes" % tag)
                for k, v in attrs:
                    if k != "class" and k not in _ATTRS.get(tag, ()):
                        self.bad("it holds a %s= attribute on <%s> the audit template never writes" % (k, tag))
                    elif k == "style" and not _ANSI_STYLE.match(v or ""):
                        self.bad("it holds a style=%s the audit template never writes" % quoted(v or "", 60))
                    elif k == "style" and self.cells:
                        self.cells[-1]["styled"] = True
                    elif k == "type" and v != "checkbox":
                        self.bad("it holds an <input type=%s>" % quoted(v or "", 20))
                if tag == "img" and not self.inside():
                    self.bad("it shows an image outside every cell's compared parts")
            if tag in self.VOID:
                return
            parent = self.stack[-1] if self.stack else None
            role = None
            if parent and parent[0] == "main":
                kind = "other"
                if "jp-Cell" in cls:
                    kind = next((k for c, k in (("jp-CodeCell", "code"), ("jp-MarkdownCell", "markdown"),
                                                ("jp-RawCell", "raw")) if c in cls), "other")
                self.cells.append({"kind": kind, "text": "", "styled": False, "parts": 0})
                role = "cell"
            elif parent and parent[2] == "cell" and not self.inside() and (
                    (self.cells[-1]["kind"] == "code" and "jp-Cell-inputWrapper" in cls)
                    or self.cells[-1]["kind"] in ("markdown", "raw")):
                self.cells[-1]["parts"] += 1
                role = "part"
            elif "jp-OutputArea-child" in cls and parent and "jp-OutputArea" in parent[1] and not self.inside():
                role = "out"
            elif parent and parent[0] == "header" and tag in ("h1", "p"):
                role = tag
            if any(c in cls for c in _HIDING):
                role = role or "hiding"
                self.stack.append((tag, cls, role, "hiding"))
                return
            self.stack.append((tag, cls, role))

        def inside(self):
            return any(e[2] in ("part", "out", "h1", "p") for e in self.stack)

        def handle_endtag(self, tag):
            if not any(e[0] == tag for e in self.stack):
                return
            while self.stack:
                if self.stack.pop()[0] == tag:
                    break

        def handle_data(self, data):
            tags = self.where()
            if "style" in tags:
                self.css += data
            elif "title" in tags:
                self.title += data
            elif any(e[2] == "part" for e in self.stack) and not any(len(e) > 3 for e in self.stack):
                if self.cells[-1]["kind"] != "markdown" or not any("neutralised" in e[1] for e in self.stack):
                    self.cells[-1]["text"] += data  # a Markdown cell's words: as its outputs', links' notes aside
            elif not data.strip():
                return
            elif any(len(e) > 3 for e in self.stack):
                self.bad("it holds content in an element the stylesheet hides")
            elif any(e[2] == "h1" for e in self.stack):
                self.h1 += data
            elif any(e[2] == "p" for e in self.stack):
                self.note += data
            elif not any(e[2] == "out" for e in self.stack):
                self.bad("it shows text outside every cell's compared parts: %s" % quoted(data.strip(), 60))

    p = P()
    p.feed(page)
    p.close()
    if p.problem is None and [(t, a) for t, a in p.head] != _HEAD:
        p.problem = "its head is not the audit template's"
    if p.problem is None and sha256_hex(p.css.strip().encode("utf-8")) not in KNOWN_STYLESHEETS:
        p.problem = "its stylesheet is not the audit template's (sha256 %s)" % sha256_hex(p.css.strip().encode("utf-8"))[:12]
    if p.problem is None and p.h1.strip() != p.title.strip():
        p.problem = "its heading is not its title (the session it shows)"
    if p.problem is None and p.note.strip() and not p.note.strip().startswith(AUDIT_NOTE_START):
        p.problem = "its header says more than the audit note"
    return p.problem, p.cells


def _frame_problem(page, all_cells):
    problem, cells = page_frame(page)
    if problem:
        return "%s is not the audit template's page around %s: %s" % (HTML_FILE, NOTEBOOK_FILE, problem)
    if len(cells) != len(all_cells):
        return "%s shows %d cell(s), %s has %d" % (HTML_FILE, len(cells), NOTEBOOK_FILE, len(all_cells))
    code = 0
    for i, (pc, c) in enumerate(zip(cells, all_cells)):
        kind = c.get("cell_type")
        src = _joined(c.get("source"))
        if kind == "code":
            code += 1
            key = cell_key(src)
            name = "code cell %d%s" % (code, " (%s)" % key if key else "")
        else:
            name = "cell %d (%s)" % (i + 1, {"markdown": "Markdown"}.get(kind, kind))
        at = "%s disagrees with %s at %s" % (HTML_FILE, NOTEBOOK_FILE, name)
        if pc["kind"] != ({"code": "code", "markdown": "markdown", "raw": "raw"}.get(kind, "other")):
            return "%s: the HTML shows a %s cell there (cells missing, added or reordered)" % (at, pc["kind"])
        shown = pc["text"].replace("\r\n", "\n").replace("\r", "\n").strip()
        if kind == "markdown":
            if _WORD.findall(shown) != _md_words(src):
                return "%s, its text: the HTML shows other words (%s)" % (at, quoted(shown[:60], 80))
        elif shown != src.replace("\r\n", "\n").replace("\r", "\n").strip():
            j = next((k for k, (x, y) in enumerate(zip(shown, src.strip())) if x != y), min(len(shown), len(src.strip())))
            return "%s, its %s: at character %d the HTML shows %s, the notebook %s" % (
                at, "input" if kind == "code" else "text", j + 1, quoted(shown[max(0, j - 30):j + 50], 80),
                quoted(src.strip()[max(0, j - 30):j + 50], 80))
        if kind == "code" and pc["styled"] and not any(
                _EXTENDED_COLOUR.search(_joined(o.get("text")) + "\n".join(o.get("traceback") or []))
                for o in c.get("outputs") or []):
            return "%s: the HTML colours its text with a style the notebook's text has no escape for" % at
    return None


def check_html_outputs(session_dir, out):
    hp, npth = os.path.join(session_dir, HTML_FILE), os.path.join(session_dir, NOTEBOOK_FILE)
    if not (os.path.isfile(hp) and os.path.isfile(npth)):
        return
    try:
        with open(npth, "r", encoding="utf-8") as f:
            nb = json.loads(f.read())
        all_cells = [json.loads(_mask(json.dumps(c))) for c in nb["cells"]]
        cells = [c for c in all_cells if c.get("cell_type") == "code"]
    except (ValueError, OSError, AttributeError, KeyError, TypeError):
        out.add("ERROR", HTML_FILE, "%s is not a readable notebook (not JSON, or no cells): %s cannot be its export"
                % (NOTEBOOK_FILE, HTML_FILE), "HTML_DISAGREES")
        return
    with open(hp, "r", encoding="utf-8", errors="replace", newline="") as f:  # a carriage return is text
        text = _mask(f.read())
    page = page_code_cells(text)
    try:
        problem = _html_problem(page, cells) or _frame_problem(text, all_cells)
    except (ValueError, AttributeError, KeyError, TypeError) as e:  # a cell or output of an unexpected shape
        problem = "%s cannot be compared with %s: %s" % (HTML_FILE, NOTEBOOK_FILE, e)
    if problem:
        out.add("ERROR", HTML_FILE, problem, "HTML_DISAGREES")
    else:
        out.add("ok", HTML_FILE, "shows every code cell's outputs as %s does" % NOTEBOOK_FILE)  # and its frame


def _html_problem(page, cells):
    problem = None
    if len(page) != len(cells):
        problem = "%s shows %d code cell(s), %s has %d" % (HTML_FILE, len(page), NOTEBOOK_FILE, len(cells))
    for i, c in enumerate(cells):
        if problem:
            break
        c = json.loads(_mask(json.dumps(c)))
        plain, merged = expected_outputs(c), expected_outputs(c, True)
        d = _cell_difference(page[i], plain)
        dm = d and _cell_difference(page[i], merged)
        if d and dm:
            if len(merged) == len(page[i]) != len(plain):
                d = dm  # the page has the merged form's outputs: its difference is the one to name
            key = cell_key(_joined(c.get("source")))
            problem = "%s disagrees with %s at code cell %d%s, %s" % (
                HTML_FILE, NOTEBOOK_FILE, i + 1, " (%s)" % key if key else "", d)
    return problem


# ------------------------------------------------------------------------------ the stated outcome

# The tool's own markup stating an outcome (docs/evidence-format.md, "The stated outcome"): the report
# block's Outcome line, the report cell's outcome line, the banner's title, and the same in the HTML.
# Untrusted text reaches these files inert (Markdown characters backslash-escaped, `<` escaped in
# HTML), so it can form none of them.
BLOCK_PREFIX = "> **Outcome** : "
BLOCK_LINE = re.compile(r"^> \*\*Outcome\*\* : \*\*\S+ (\S+?)\*\* \u2014 (.*) _\(derived from the evidence, never typed\)_$")
CELL_LINE = re.compile(r"^\*\*Outcome: \S+ (\S+?)\*\*")
BANNER_LINE = re.compile(r"^> ### \S+ Outcome: (\S+)$")
HTML_CLAIMS = [re.compile(r"<strong>Outcome</strong> : <strong>\S+ ([^<\s]+)</strong>"),
               re.compile(r"<strong>Outcome: \S+ ([^<\s]+)</strong>"),
               re.compile(r"<h3>\S+ Outcome: ([^<\s]+)</h3>")]
QUOTE_INVISIBLE = re.compile("[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")


def quoted(s, cap=160):
    """A value from a file or the journal in a finding: JSON-quoted, invisible characters shown, cut."""
    s = s if isinstance(s, str) else repr(s)
    cut = s[:cap] + "\u2026" if len(s) > cap else s
    return QUOTE_INVISIBLE.sub(lambda m: "\\u%04x" % ord(m.group(0)), json.dumps(cut, ensure_ascii=False))


def block_claims(md):
    """[(word, reason or None)] of the report block's Outcome lines; a line that starts like one and does
    not parse is a claim of its whole rest."""
    out = []
    for line in re.split(r"\r?\n", md):
        if not line.startswith(BLOCK_PREFIX):
            continue
        m = BLOCK_LINE.match(line)
        out.append((m.group(1), m.group(2)) if m else (line[len(BLOCK_PREFIX):], None))
    return out


def notebook_claims(session_dir):
    """Every outcome the notebook's report and open cells show: block lines, outcome lines, banners."""
    try:
        with open(os.path.join(session_dir, NOTEBOOK_FILE), "r", encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError):
        return []
    out = []
    cells = nb.get("cells") if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else []
    for c in cells:
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        key = cell_key(_joined(c.get("source")))
        if key not in ("report", "open"):
            continue
        for kind, data in shown_in_cell(c):
            if kind != "markdown":
                continue
            if key == "report":
                out.extend(w for w, _ in block_claims(data))
            for line in re.split(r"\r?\n", data):
                m = (CELL_LINE if key == "report" else BANNER_LINE).match(line)
                if m:
                    out.append(m.group(1))
    return out


def html_claims(session_dir):
    try:
        with open(os.path.join(session_dir, HTML_FILE), "r", encoding="utf-8", errors="replace") as f:
            html = f.read()
    except OSError:
        return []
    return [m.group(1) for rx in HTML_CLAIMS for m in rx.finditer(html)]


def inert_plain(md):
    """The text an inert Markdown span renders as: every backslash escape undone (lib/report/inert.ts adds
    nothing else)."""
    return re.sub(r"\\(.)", r"\1", md, flags=re.S)


def one_line(text):
    """A reason as the report writes it on one line: line breaks and the blanks around them become a space."""
    return re.sub(r"\s*(?:\r\n|\r|\n)\s*", " ", text).replace("\0", "\ufffd")


# Characters no reader sees as themselves (C0 but NUL, tab and line breaks; DEL, C1, soft hyphen, bidi,
# zero-width, line separators): the report shows each as its \uXXXX escape (lib/report/inert.ts).
INVISIBLE = re.compile("[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f"
                       "\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")


def shown_controls(text):
    return INVISIBLE.sub(lambda m: "\\u%04x" % ord(m.group(0)), text)


def same_reason(entry_data, written):
    written = one_line(written)
    raw = one_line(entry_data.get("reason") if isinstance(entry_data.get("reason"), str) else "")
    cut = isinstance(entry_data.get("truncated_from"), dict) and "reason" in entry_data["truncated_from"]
    # Written with its invisible characters shown, or, by a tool older than that, as they are.
    for stated in (shown_controls(raw), raw):
        if written == stated:
            return True
        if cut and written.startswith(stated[:-1] if stated.endswith("\u2026") else stated):
            return True
    return False


def check_outcome(session_dir, journal_entries, out):
    """What report.md, the notebook and the HTML state as the outcome is what the journal recorded stating
    (`outcome_stated`): report.md the seal's entry, which must be the journal's last; the notebook and the
    HTML the report cell's latest. This verifier does not derive the verdict from the journal (npm run verify
    holds each entry to it); check_stated_verdict holds each to what the journal bounds it to. A journal without a seal entry was sealed before outcomes were journaled."""
    stated = [e for e in journal_entries if e.get("kind") == "outcome_stated" and isinstance(e.get("data"), dict)]
    seals = [e for e in stated if e["data"].get("by") == "seal"]
    if not seals:
        return
    seal = seals[-1]
    want = seal["data"].get("outcome")
    errors_before = out.count("ERROR")
    last = journal_entries[-1]
    if last is not seal:
        follow = len(journal_entries) - journal_entries.index(seal) - 1
        out.add("ERROR", "%s:%s" % (JOURNAL_FILE, seal.get("seq")),
                "the seal's outcome is not the journal's last entry: %d entr(ies) follow it, up to %s at line %s"
                % (follow, last.get("kind"), last.get("seq")), "OUTCOME_MISMATCH")
    try:
        with open(os.path.join(session_dir, REPORT_FILE), "r", encoding="utf-8", errors="replace") as f:
            report = f.read()
    except OSError:
        report = None
    if report is not None:
        claims = block_claims(report)
        if not claims:
            out.add("ERROR", REPORT_FILE, "states no outcome; the seal recorded %s" % want, "OUTCOME_MISMATCH")
        for word, reason in claims:
            check_claim(REPORT_FILE, word, reason, seal, out)
    cells = [e for e in stated if e["data"].get("by") == "report_cell"]
    cell = cells[-1] if cells else None
    for name, claims in ((NOTEBOOK_FILE, notebook_claims(session_dir)), (HTML_FILE, html_claims(session_dir))):
        wrong = [w for w in claims if cell is None or w != cell["data"].get("outcome")]
        if not wrong:
            continue
        if cell is not None:
            msg = "shows outcome %s, the report cell stated %s (%s:%s)" % (
                quoted(wrong[0], 40), cell["data"].get("outcome"), JOURNAL_FILE, cell.get("seq"))
        else:
            msg = "shows outcome %s, but the journal records no outcome stated by the report cell" % quoted(wrong[0], 40)
        out.add("ERROR", name, msg, "OUTCOME_MISMATCH")
    if out.count("ERROR") == errors_before:
        out.add("ok", REPORT_FILE, "states outcome %s, as the seal recorded it (%s:%s)" % (want, JOURNAL_FILE, seal.get("seq")))


def verdict_bounds(entries, mode):
    """What the journal alone says of the verdict the tool derives from it (docs/evidence-format.md, *The
    stated outcome*, check 5), without the step table: (money_moved, the verdict when it is certain or None,
    why the verdict cannot be PASS or None). Money moved when a `payment_confirmed` or `payment_uncertain`
    entry exists; with no step result, or no money moved, the verdict is FAIL; it is never PASS over a
    `time_impossible` entry, a run sealed `incomplete` (`seal_exception`), a latest step result (by step
    id) other than PASS, a last pre-flight that refused, staging or live, no `money_seen` of the captured
    amount from the orchestrator (or, once a refund was created, of the refunded amount), or, live, no
    `bank_confirmed` entry."""
    kinds = lambda k: [e for e in entries if e.get("kind") == k and isinstance(e.get("data"), dict)]
    moved = bool(kinds("payment_confirmed") or kinds("payment_uncertain"))
    latest = {}
    for e in kinds("step_result"):
        latest[str(e["data"].get("id"))] = e
    if not latest:
        return moved, "FAIL", "no step result is recorded"
    if not moved:
        return moved, "FAIL", "no payment is recorded (no money moved)"
    not_pass = []
    for e in kinds("time_impossible"):
        not_pass.append("a backend time is impossible (%s:%s: %s)" % (JOURNAL_FILE, e.get("seq"), quoted(e["data"].get("why"), 120)))
    for e in kinds("seal_exception"):
        if e["data"].get("rule") == "incomplete":
            not_pass.append("it was sealed as incomplete (%s:%s)" % (JOURNAL_FILE, e.get("seq")))
    for sid, e in latest.items():
        if e["data"].get("status") != "PASS":
            not_pass.append("step %s (%s) is %s (%s:%s)" % (e["data"].get("step"), quoted(sid, 40),
                                                           quoted(e["data"].get("status"), 20), JOURNAL_FILE, e.get("seq")))
    pre = kinds("preflight")
    if pre and pre[-1]["data"].get("ok") is False:
        not_pass.append("its last pre-flight refused (%s:%s)" % (JOURNAL_FILE, pre[-1].get("seq")))
    if mode in ("staging", "live"):
        # An amount checked against the orchestrator, never assumed (lib/report/orchestrator-check.ts).
        hs = lambda what: any(e["data"].get("what") == what and e["data"].get("source") == "orchestrator"
                              for e in kinds("money_seen"))
        if not hs("captured"):
            not_pass.append("the captured amount was never reported by the orchestrator (no money_seen captured from it)")
        if kinds("refund_created") and not hs("refunded"):
            not_pass.append("the refunded amount was never reported by the orchestrator (no money_seen refunded from it)")
    if mode == "live" and not kinds("bank_confirmed"):
        not_pass.append("no bank statement is recorded for a live run")
    return moved, None, (not_pass[0] if not_pass else None)


def check_stated_verdict(journal_entries, out):
    """Each `outcome_stated` entry (the seal's, and the report cell's latest) against what the journal
    before it says of the verdict (verdict_bounds): the same money statement, the certain verdict when
    there is one, never PASS where it cannot be. npm run verify derives the verdict itself, so it also
    sees a PARTIAL stated where the tool derives FAIL (or the reverse) and a reason rewritten."""
    created = next((e for e in journal_entries if e.get("kind") == "session_created" and isinstance(e.get("data"), dict)), None)
    mode = created["data"].get("mode") if created else None
    stated = [e for e in journal_entries if e.get("kind") == "outcome_stated" and isinstance(e.get("data"), dict)]
    seals = [e for e in stated if e["data"].get("by") == "seal"]
    if not seals:
        return
    cells = [e for e in stated if e["data"].get("by") == "report_cell"]
    for who, e in (("the seal", seals[-1]), ("the report cell", cells[-1] if cells else None)):
        if e is None:
            continue
        moved, certain, not_pass = verdict_bounds(journal_entries[:journal_entries.index(e)], mode)
        said = e["data"].get("outcome")
        where = "%s:%s" % (JOURNAL_FILE, e.get("seq"))
        if certain is not None and said != certain:
            out.add("ERROR", where, "%s stated outcome %s, the journal's verdict is %s (%s)" % (
                who, quoted(said, 40), certain, not_pass), "OUTCOME_MISMATCH")
        elif said == "PASS" and not_pass:
            out.add("ERROR", where, "%s stated outcome PASS, the journal's verdict cannot be PASS: %s" % (who, not_pass),
                    "OUTCOME_MISMATCH")
        elif e["data"].get("money_moved") is not moved:
            out.add("ERROR", where, "%s stated money moved: %s, the journal says %s" % (
                who, json.dumps(e["data"].get("money_moved")), "money moved" if moved else "no money moved"),
                "OUTCOME_MISMATCH")


ANCHOR_STRICT = re.compile(r"^<!-- payment-e2e:anchor (\{[^\n]*\}) -->$")
# Backslashes allowed: an escaped copy from operator or backend text still counts as anchor-shaped.
ANCHOR_SHAPED = re.compile(r"payment-e2e\\?:anchor\s*\\?\{|Anchor ?:.*?manifest sha256", re.I)
ANCHOR_LEGACY = re.compile(r"Anchor ?: manifest sha256 `([0-9a-f]{64})` \u00b7 trace head `([0-9a-f]{64})` \((\d+) lines\) \u00b7 "
                           r"(?:journal head `([0-9a-f]{64})` \((\d+) lines\)|journal not chained)")
ANCHOR_KEYS = ["journal_head", "journal_lines", "manifest_sha256", "trace_head", "trace_lines"]


def parse_strict_anchor(line):
    """(manifest_sha, trace_head, trace_lines, journal_head or None, journal_lines or None), or None.

    The line is exactly `<!-- payment-e2e:anchor {JSON} -->`, the JSON canonical (RFC 8785) with
    exactly the five keys; journal_head/journal_lines are both null for a manifest@1 seal.
    """
    mm = ANCHOR_STRICT.match(line)
    if not mm:
        return None
    try:
        o = parse_json(mm.group(1))
        if not isinstance(o, dict) or jcs(o) != mm.group(1) or sorted(o.keys()) != ANCHOR_KEYS:
            return None
    except (ValueError, NotCanonicalizable):
        return None
    sha, th, tl, jh, jl = (o["manifest_sha256"], o["trace_head"], o["trace_lines"], o["journal_head"], o["journal_lines"])
    if not (isinstance(sha, str) and HEX64.match(sha) and isinstance(th, str) and HEX64.match(th) and _is_int(tl)):
        return None
    if isinstance(jh, str) and HEX64.match(jh) and _is_int(jl):
        return sha, th, tl, jh, jl
    if jh is None and jl is None:
        return sha, th, tl, None, None
    return None


def block_anchor(lines, begin, end_marker):
    """Scans one session block: (anchor tuple or None, [1-based lines of anchor-shaped lines], problem, legacy)."""
    shaped = []
    for i in range(begin + 1, len(lines)):
        if lines[i].strip() == end_marker:
            break
        if ANCHOR_SHAPED.search(lines[i]):
            shaped.append(i + 1)
    if not shaped:
        return None, shaped, None, False
    if len(shaped) > 1:
        return None, shaped, "ambiguous", False
    line = lines[shaped[0] - 1]
    strict = parse_strict_anchor(line)
    if strict:
        return strict, shaped, None, False
    mm = None if "payment-e2e:anchor" in line else ANCHOR_LEGACY.search(line)
    if mm:
        return (mm.group(1), mm.group(2), int(mm.group(3)), mm.group(4),
                int(mm.group(5)) if mm.group(5) else None), shaped, None, True
    return None, shaped, "malformed", False


def check_anchor(report, sid, manifest_sha, m, trace_chain, journal_chain, out, seal=None, session_dir=""):
    """Compares the folder with the one anchor in the session's block of the living report."""
    name = report.replace(os.sep, "/")
    try:
        with open(report, "r", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as err:
        out.add("ERROR", name, "cannot read the report: %s" % (getattr(err, "strerror", None) or err))
        return
    start, end = "<!-- session:%s -->" % sid, "<!-- /session:%s -->" % sid
    begin = next((i for i, l in enumerate(lines) if l.strip() == start), None)
    if begin is None:
        out.add("WARN", name, "no block for session %s: its anchor cannot be checked" % sid)
        return
    found, shaped, problem, legacy = block_anchor(lines, begin, end)
    if problem == "ambiguous":
        out.add("ERROR", "%s:%d" % (name, shaped[1]), "%d anchor-shaped lines in one session block (lines %s): exactly "
                "one is allowed" % (len(shaped), ", ".join(str(n) for n in shaped)), "ANCHOR_AMBIGUOUS")
        return
    if problem == "malformed":
        out.add("ERROR", "%s:%d" % (name, shaped[0]), "anchor-shaped line that is not the strict anchor "
                "(canonical JSON in <!-- payment-e2e:anchor ... -->)", "ANCHOR_MALFORMED")
        return
    if found is None:
        out.add("WARN", "%s:%d" % (name, begin + 1), "session block has no anchor; the folder is not anchored")
        return
    if legacy:
        out.add("WARN", "%s:%d" % (name, shaped[0]), "anchor in the older line form (before the strict anchor)")
    at = shaped[0]
    a_sha, a_th, a_tl, a_jh, a_jl = found
    where = "%s:%d" % (name, at)
    ok = True
    if a_sha != manifest_sha:
        ok = False
        out.add("ERROR", MANIFEST_FILE, "sha256 %s differs from the anchor %s in %s (manifest rewritten after anchoring)"
                % (manifest_sha, a_sha, where), "ANCHOR_MISMATCH")
    checks = [(TRACE_FILE, trace_chain, a_th, a_tl, (m["chain_head"], m["trace_lines"]))]
    if a_jh is not None:
        checks.append((JOURNAL_FILE, journal_chain, a_jh, a_jl, (m.get("journal_head"), m.get("journal_lines"))))
    for fname, chain, head, n, sealed in checks:
        if chain is None:
            continue
        if not chain["ok"]:
            # The chain's own error is already reported: compare the anchor with what the manifest sealed.
            if (head, n) != sealed:
                ok = False
                out.add("ERROR", "%s:%d" % (fname, n), "the head anchored in %s differs from the one %s sealed"
                        % (where, MANIFEST_FILE), "ANCHOR_MISMATCH")
            continue
        have = chain["heads"][n] if n < len(chain["heads"]) else None
        if chain["lines"] < n:
            ok = False
            out.add("ERROR", "%s:%d" % (fname, chain["lines"] + 1),
                    "the anchor in %s records %d line(s); only %d verify" % (where, n, chain["lines"]), "ANCHOR_MISMATCH")
        elif have != head:
            ok = False
            out.add("ERROR", "%s:%d" % (fname, n), "hash of line %d differs from the chain head anchored in %s "
                    "(chain rewritten after anchoring)" % (n, where), "ANCHOR_MISMATCH")
        elif chain["lines"] != n:
            ok = False
            out.add("ERROR", "%s:%d" % (fname, n + 1), "%d line(s) after the anchored line %d" % (chain["lines"] - n, n),
                    "ANCHOR_MISMATCH")
    if ok:
        out.add("ok", where, "anchor matches: manifest sha256, trace head%s" % (" and journal head" if a_jh is not None else ""))
    if a_sha == manifest_sha and journal_chain is not None and journal_chain["ok"]:
        check_block_outcome(name, lines, begin, end, journal_chain["entries"], out)
    if a_sha == manifest_sha and seal is not None:
        check_block_signer(name, lines, begin, end, seal, session_dir, out)


SIGNER_PREFIX = "- Sealed by : "
SIGNER_SIGNED = re.compile(r"^- Sealed by : (`+)(.+?)\1(?!`) with (`+)(.+?)\3(?!`)(?: \u2014 .*)?$")
SIGNER_UNSIGNED = re.compile(r"^- Sealed by : unsigned(?: .*)?$")


def _span_text(s):
    return s[1:-1] if len(s) > 2 and s.startswith(" ") and s.endswith(" ") else s


def parse_signer_line(line):
    """('signed', identity, key) | ('unsigned',) | ('other', text) for a signer line of a block; None otherwise."""
    if not line.startswith(SIGNER_PREFIX):
        return None
    mm = SIGNER_SIGNED.match(line)
    if mm:
        return ("signed", _span_text(mm.group(2)), _span_text(mm.group(4)))
    if SIGNER_UNSIGNED.match(line):
        return ("unsigned",)
    return ("other", line[len(SIGNER_PREFIX):])


def check_block_signer(name, lines, begin, end_marker, seal, session_dir, out):
    """Every signer line of the session's block, anchored to this seal, names the seal's actual signer
    (lib/evidence/signer-line.ts signerLineFindings). A block without one was rendered before blocks named
    their signer: a warning. A signature that does not count is the signature check's error."""
    claims = []
    for i in range(begin, len(lines)):
        if i > begin and lines[i].strip() == end_marker:
            break
        c = parse_signer_line(lines[i].rstrip("\r"))
        if c:
            claims.append((c, "%s:%d" % (name, i + 1)))
    if not claims:
        out.add("WARN", "%s:%d" % (name, begin + 1), "the session's block does not say who sealed it (rendered "
                "before blocks named their signer): re-render it with npm run report -- %s" % session_dir)
        return
    if seal[0] == "bad":
        return
    actual = ("the seal's signature is by %s (%s)" % (seal[1], seal[2]) if seal[0] == "good"
              else "the seal is unsigned")
    bad = 0
    for c, where in claims:
        right = (c[0] == "signed" and c[1] == seal[1] and c[2] == seal[2]) if seal[0] == "good" else c[0] == "unsigned"
        if right:
            continue
        bad += 1
        said = ("the signer %s (%s)" % (quoted(c[1], 80), quoted(c[2], 80)) if c[0] == "signed"
                else "no signer (unsigned)" if c[0] == "unsigned" else quoted(c[1], 80))
        out.add("ERROR", where, "names %s, but %s" % (said, actual), "SIGNER_MISMATCH")
    if not bad:
        out.add("ok", name, "the session's block names who sealed it, as the signature says (%s)"
                % ("%s, %s" % (seal[1], seal[2]) if seal[0] == "good" else "unsigned"))


def check_claim(where, word, reason, seal, out):
    """One Outcome line (report.md's, or the living report block's) against the seal's outcome_stated:
    the same outcome, and a reason that is the seal's (lib/evidence/outcome-stated.ts)."""
    want = seal["data"].get("outcome")
    if word != want:
        out.add("ERROR", where, "states outcome %s, the seal recorded %s (%s:%s)"
                % (quoted(word, 40), want, JOURNAL_FILE, seal.get("seq")), "OUTCOME_MISMATCH")
    elif reason is None or not same_reason(seal["data"], inert_plain(reason)):
        out.add("ERROR", where, "states the reason %s, the seal recorded %s"
                % (quoted(inert_plain(reason or "")), quoted(seal["data"].get("reason"))), "OUTCOME_MISMATCH")


def check_block_outcome(name, lines, begin, end_marker, journal_entries, out):
    """The session's block in the living report, anchored to this seal's manifest, states the seal's
    outcome and reason in every Outcome line, as report.md must (lib/evidence/outcome-stated.ts
    livingReportFindings). A block with no Outcome line states nothing and is not held here."""
    seals = [e for e in journal_entries if e.get("kind") == "outcome_stated" and isinstance(e.get("data"), dict)
             and e["data"].get("by") == "seal"]
    if not seals:
        return
    seal = seals[-1]
    want = seal["data"].get("outcome")
    stated = 0
    errors_before = out.count("ERROR")
    for i in range(begin, len(lines)):
        if i > begin and lines[i].strip() == end_marker:
            break
        for word, reason in block_claims(lines[i].rstrip("\r")):
            stated += 1
            check_claim("%s:%d" % (name, i + 1), word, reason, seal, out)
    if stated and out.count("ERROR") == errors_before:
        out.add("ok", name, "the session's block states outcome %s, as the seal recorded it (%s:%s)"
                % (want, JOURNAL_FILE, seal.get("seq")))


def check_timestamp(session_dir, manifest_sha, ca_file, untrusted, out):
    """The RFC 3161 token beside the manifest, checked offline with openssl against the authority's CA."""
    tsr = os.path.join(session_dir, TSR_FILE)
    if not os.path.isfile(tsr):
        return
    if not ca_file:
        out.add("WARN", TSR_FILE, "an RFC 3161 timestamp is present but not checked: give the authority's CA certificate "
                "with --tsa-ca <file>", "TIMESTAMP_UNCHECKED")
        return
    def run(args):
        try:
            return subprocess.run(["openssl"] + args, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as err:
            return subprocess.CompletedProcess(args, 127, b"", str(err).encode())
    info = run(["ts", "-reply", "-in", tsr, "-text"])
    when = re.search(r"^Time stamp: (.+)$", info.stdout.decode("utf-8", "replace"), re.M) if info.returncode == 0 else None
    args = ["ts", "-verify", "-digest", manifest_sha, "-in", tsr, "-CAfile", ca_file]
    if untrusted:
        args += ["-untrusted", untrusted]
    r = run(args)
    if info.returncode == 0 and r.returncode == 0:
        out.add("ok", TSR_FILE, "RFC 3161 timestamp over the manifest's sha256 verifies: %s"
                % (when.group(1).strip() if when else "time unreadable"))
        return
    why = (r.stderr or info.stderr or b"").decode("utf-8", "replace").strip().split("\n")[0]
    out.add("ERROR", TSR_FILE, "the RFC 3161 timestamp does not verify over this manifest's sha256 with the given CA (%s)"
            % why, "TIMESTAMP_INVALID")


def verify(session_dir, report=None, tsa_ca=None, tsa_cert=None, allowed_signers=DEFAULT_ALLOWED_SIGNERS):
    out = Findings()
    mpath = os.path.join(session_dir, MANIFEST_FILE)
    try:
        with open(mpath, "rb") as f:
            mbytes = f.read()
    except OSError:
        out.add("ERROR", MANIFEST_FILE, "missing: the folder is not sealed", "MANIFEST_INVALID")
        return out, None
    manifest_sha = hashlib.sha256(mbytes).hexdigest()
    try:
        m = parse_json(mbytes.decode("utf-8"))
    except (ValueError, NotCanonicalizable):
        out.add("ERROR", MANIFEST_FILE, "not valid JSON", "MANIFEST_INVALID")
        return out, None
    version = check_manifest_fields(m, out)
    if version is None:
        return out, None
    out.add("ok", MANIFEST_FILE, "sha256 %s (%s)" % (manifest_sha, m["schema"]))
    check_files(session_dir, m, out)

    trace = verify_chain(os.path.join(session_dir, TRACE_FILE), CHAINS[TRACE_FILE][1], m["trace_lines"], m["chain_head"])
    report_chain(TRACE_FILE, trace, out, "trace")
    jpath = os.path.join(session_dir, JOURNAL_FILE)
    journal = None
    if version == 2:
        journal = verify_chain(jpath, CHAINS[JOURNAL_FILE][1], m["journal_lines"], m["journal_head"])
        report_chain(JOURNAL_FILE, journal, out, "journal")
        journal_entries = journal["entries"]
    else:
        journal_entries = []
        try:
            lines, _ = read_lines(jpath)
            for raw in lines[:1]:
                journal_entries.append(parse_json(raw.decode("utf-8")))
        except (OSError, ValueError, NotCanonicalizable):
            pass
    check_identity(session_dir, m, trace["entries"], journal_entries, out)
    check_leftover_ids(session_dir, m["session_id"], out)
    check_quarantine(session_dir, journal_entries, out)
    check_outputs(session_dir, journal_entries, out)
    check_notes(session_dir, trace["entries"], journal_entries, out)
    check_html_outputs(session_dir, out)
    if version == 2 and journal["ok"]:
        check_outcome(session_dir, journal_entries, out)
        check_stated_verdict(journal_entries, out)
    check_reseals(trace["entries"], journal_entries, out)
    seal = check_signatures(session_dir, m, allowed_signers, out)
    if m["mode"] != "sandbox":
        check_statements(session_dir, trace["entries"], manifest_sha, out)
    if report:
        check_anchor(report, m["session_id"], manifest_sha, m, trace, journal, out, seal, session_dir)
    check_timestamp(session_dir, manifest_sha, tsa_ca, tsa_cert, out)
    summary = "session %s (%s), %d file(s), trace %d line(s)" % (m["session_id"], m["mode"], len(m["files"]), m["trace_lines"])
    if version == 2:
        summary += ", journal %d line(s)" % m["journal_lines"]
    return out, summary


# What a terminal acts on instead of showing, or what makes a line read otherwise than it is (C0 and
# C1 controls: ESC erases a line or conceals what follows, a carriage return rewrites it; bidi
# controls, zero-width characters, line separators), and lone surrogates (undecodable file names).
TERMINAL_UNSAFE = re.compile("[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f"
                             "\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def terminal_line(s):
    """A finding line with each such character shown as its escape: a file name or a quoted value in
    the folder cannot paint "verify: OK" over the FAILED line or hide it."""
    def esc(m):
        c = m.group(0)
        return "\\n" if c == "\n" else "\\r" if c == "\r" else "\\u%04x" % ord(c)
    return TERMINAL_UNSAFE.sub(esc, s)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="verify_session.py", description="Independent verifier of a payment-e2e session folder.")
    ap.add_argument("session_dir", help="e.g. archive/payment-e2e/<session-id>")
    ap.add_argument("--report", help="the living report whose session block holds the anchor, e.g. docs/PAYMENT_E2E_LIVE_REPORT.md")
    ap.add_argument("--allowed-signers", default=DEFAULT_ALLOWED_SIGNERS,
                    help="who may seal staging and live sessions, ssh-keygen's format (default %(default)s)")
    ap.add_argument("--tsa-ca", default=os.environ.get("PAYMENT_E2E_TSA_CA") or None,
                    help="the time-stamping authority's CA certificate (PEM), to check manifest.json.tsr with openssl")
    ap.add_argument("--tsa-cert", default=os.environ.get("PAYMENT_E2E_TSA_CERT") or None,
                    help="the authority's own certificate (PEM), when its tokens do not carry it")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.session_dir):
        sys.stderr.write("verify: %s: no such directory\n" % args.session_dir)
        return 2
    if args.report and not os.path.isfile(args.report):
        sys.stderr.write("verify: %s: no such file\n" % args.report)
        return 2
    if args.tsa_ca and not os.path.isfile(args.tsa_ca):
        sys.stderr.write("verify: --tsa-ca %s: no such file\n" % args.tsa_ca)
        return 2
    out, summary = verify(args.session_dir, args.report, args.tsa_ca, args.tsa_cert, args.allowed_signers)
    tag = {"ok": "ok   ", "WARN": "WARN ", "ERROR": "ERROR"}
    for level, subject, message in out.items:
        print(terminal_line("%s %s: %s" % (tag[level], subject, message)))
    errors, warnings = out.count("ERROR"), out.count("WARN")
    what = terminal_line(summary or args.session_dir)
    if errors:
        print("verify: FAILED - %s: %d error(s), %d warning(s)" % (what, errors, warnings))
        return 1
    print("verify: OK - %s%s" % (what, ", %d warning(s)" % warnings if warnings else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
