"""Which options each allowlisted program accepts: allowlists, never deny-lists.

An option is accepted only when it is exactly one the program's :class:`ProgramSpec` names:

* short flags may be bundled (``-la``); every letter of a bundle is checked, and a letter that
  takes a value ends the bundle (``-n5``, or ``-n 5``);
* long options must be spelled out: GNU ``getopt_long`` and git accept unique abbreviations
  (``--to-comm`` for ``--to-command``), so anything that is not an exact allowed name is refused;
* the values of options and the positional arguments are checked as paths by the caller.

These checks are defence in depth. They cannot read a program's own language (a ``sed`` or
``awk`` script, a git config file, an archive's members); the operating-system sandbox
(:mod:`cupola.tools.sandbox.runner`) is what holds when they miss something.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class ProgramSpec:
    """The options one program (or one git subcommand) accepts."""

    flags: str = ""                 # short options without a value: "la" allows -l, -a, -la
    valued: str = ""                # short options that take a value: -n 5, -n5
    optional: str = ""              # short options whose value can only be attached: -i, -i.bak
    long: frozenset[str] = frozenset()           # --name
    long_valued: frozenset[str] = frozenset()    # --name=VALUE or --name VALUE
    long_optional: frozenset[str] = frozenset()  # --name or --name=VALUE
    words: Mapping[str, int] = field(default_factory=dict)  # find-style: -name PATTERN (name -> value count)
    digits: bool = False            # -5 (a count, as in head -5)
    dash_first: bool = False        # the first argument must be an option (tar: no old-style "cvf")
    before: tuple[str, ...] = ()    # options always passed first (sed --sandbox)
    subcommands: Mapping[str, ProgramSpec] | None = None  # git: the first positional picks one
    runs_code: bool = False         # runs programs or code it is given: arguments are not checked

    def describe(self) -> str:
        shorts = [f"-{c}" for c in self.flags + self.valued + self.optional]
        return ", ".join([*shorts, *sorted(self.long | self.long_valued | self.long_optional),
                          *sorted(self.words)]) or "none"


def _spec(flags: str = "", valued: str = "", long: str = "", long_valued: str = "", long_optional: str = "",
          **kw) -> ProgramSpec:
    def names(text: str) -> frozenset[str]:
        return frozenset(f"--{n}" for n in text.split())
    return ProgramSpec(flags, valued, kw.pop("optional", ""), names(long), names(long_valued),
                       names(long_optional), **kw)


def parse_options(options: Iterable[str]) -> ProgramSpec:
    """A user's allowlist: ``-v`` (flag), ``-o=`` (short with a value), ``--all``, ``--output=``,
    ``--color[=]`` (optional value), ``-name=`` (a find-style word with one value)."""
    flags = valued = ""
    long: set[str] = set()
    long_valued: set[str] = set()
    long_optional: set[str] = set()
    words: dict[str, int] = {}
    for option in options:
        text = str(option)
        if re.fullmatch(r"-[A-Za-z0-9]", text):
            flags += text[1]
        elif re.fullmatch(r"-[A-Za-z0-9]=", text):
            valued += text[1]
        elif re.fullmatch(r"--[A-Za-z0-9][\w-]*", text):
            long.add(text)
        elif re.fullmatch(r"--[A-Za-z0-9][\w-]*=", text):
            long_valued.add(text[:-1])
        elif re.fullmatch(r"--[A-Za-z0-9][\w-]*\[=\]", text):
            long_optional.add(text[:-3])
        elif re.fullmatch(r"-[A-Za-z][\w-]+=?", text):
            words[text.rstrip("=")] = 1 if text.endswith("=") else 0
        else:
            raise ValueError(f"option {text!r} is not understood; write -v, -o=, --all, --output=, --color[=] "
                             "or -name= (a trailing = means the option takes a value)")
    return ProgramSpec(flags, valued, "", frozenset(long), frozenset(long_valued), frozenset(long_optional), words)


# Programs that run other programs or code they are given. Never allowed unless the user says so
# (`runs_code: true`); then only the operating-system sandbox contains them.
_RUNNERS = frozenset("""env xargs sh bash dash zsh ksh mksh fish csh tcsh busybox toybox nice nohup timeout stdbuf
setsid unshare nsenter chroot sudo su doas runuser pkexec strace ltrace gdb lldb valgrind ssh script watch
parallel make cmake ninja npm npx yarn pnpm pip pip3 uv uvx pipx poetry node nodejs deno bun java jshell
tclsh wish expect Rscript R julia osascript flock time ionice taskset chrt prlimit capsh sg newgrp vim vi
nvim view ex ed emacs nano less more man git-shell socat nc ncat netcat telnet xdg-open sqlite3 gawk-extension
""".split())
_INTERPRETER = re.compile(r"^(python|pypy|perl|ruby|php|lua|luajit|irb|tclsh|pwsh|guile|racket|ocaml|ghci)"
                          r"[0-9.]*$")


def runs_code(name: str) -> bool:
    """Whether ``name`` is a shell, interpreter or program runner (refused unless explicitly allowed)."""
    return name in _RUNNERS or bool(_INTERPRETER.match(name))


_GIT_LOG_FORMAT = ("oneline stat shortstat numstat name-only name-status graph decorate all reverse follow "
                   "no-merges abbrev-commit patch no-patch first-parent")
_GIT = {
    "init": _spec("q", "b", "quiet", "initial-branch"),
    "status": _spec("sbz", "", "short branch long ignored show-stash", "", "porcelain untracked-files",
                    optional="u"),
    "add": _spec("AuvnfN", "", "all update verbose dry-run force intent-to-add"),
    "rm": _spec("rfqn", "", "cached quiet dry-run force"),
    "mv": _spec("fnvk", "", "force dry-run verbose"),
    "commit": _spec("aqsv", "mF", "all allow-empty allow-empty-message quiet amend no-edit signoff no-verify "
                    "verbose", "message author date file"),
    "log": _spec("pi", "n", _GIT_LOG_FORMAT, "max-count author since until grep date skip", "format pretty",
                 digits=True),
    "show": _spec("sp", "", _GIT_LOG_FORMAT, "date", "format pretty"),
    "diff": _spec("wRb", "U", "stat shortstat numstat name-only name-status cached staged ignore-all-space "
                  "ignore-space-change exit-code quiet no-color no-index patch", "", "unified word-diff color"),
    "branch": _spec("arvdDmMl", "", "all remotes verbose list delete move show-current merged no-merged"),
    "switch": _spec("", "cC", "detach", "create force-create"),
    "checkout": _spec("q", "bB", "quiet detach"),
    "restore": _spec("SWq", "s", "staged worktree quiet", "source"),
    "reset": _spec("q", "", "soft mixed hard quiet"),
    "tag": _spec("adln", "m", "annotate delete list", "message"),
    "ls-files": _spec("cmodsz", "", "cached modified others deleted stage exclude-standard"),
    "rev-parse": _spec("", "", "abbrev-ref show-toplevel git-dir is-inside-work-tree verify", "", "short"),
    "blame": _spec("sew", "L"),
    "grep": _spec("niwlcEFv", "e", "cached ignore-case word-regexp files-with-matches count"),
    "shortlog": _spec("sne", "", "summary numbered email"),
    "stash": _spec("uq", "m", "include-untracked quiet", "message"),
}

SPECS: dict[str, ProgramSpec] = {
    "ls": _spec("aAbBcCdfFghiklLmnNopqQrRsStuUvxX1", "Iw",
                "all almost-all escape ignore-backups directory file-type human-readable si inode dereference "
                "numeric-uid-gid literal no-group recursive reverse size group-directories-first full-time",
                "sort time format ignore hide width block-size time-style indicator-style quoting-style",
                "color classify hyperlink"),
    "cat": _spec("AbeEnstTuv", "", "show-all number-nonblank number squeeze-blank show-ends show-tabs "
                 "show-nonprinting"),
    "head": _spec("qvz", "nc", "quiet silent verbose zero-terminated", "lines bytes", digits=True),
    "tail": _spec("qvz", "nc", "quiet silent verbose zero-terminated", "lines bytes", digits=True),
    "wc": _spec("cmlLw", "", "bytes chars lines max-line-length words"),
    "grep": _spec("abcEFGHhiIlLnoqrRsTUvVwxyzZ", "efmABC",
                  "text byte-offset count extended-regexp fixed-strings basic-regexp with-filename no-filename "
                  "ignore-case no-ignore-case files-with-matches files-without-match line-number only-matching "
                  "quiet silent recursive dereference-recursive no-messages initial-tab invert-match "
                  "word-regexp line-regexp null-data null",
                  "regexp file max-count after-context before-context context include exclude exclude-dir "
                  "label binary-files", "color colour", digits=True),
    "echo": _spec("neE"),
    "printf": ProgramSpec(),
    "find": ProgramSpec(words={w: 1 for w in
                               "-name -iname -path -ipath -wholename -iwholename -regex -iregex -type -xtype "
                               "-maxdepth -mindepth -size -mtime -mmin -atime -amin -ctime -cmin -newer -perm "
                               "-links -user -group -uid -gid -samefile -regextype".split()}
                        | {w: 0 for w in "-print -print0 -empty -not -a -o -and -or -prune -true -false "
                                         "-readable -writable -executable -depth -mount -xdev -nouser -nogroup "
                                         "-ls -quit -noleaf -daystart -follow -H -P".split()}),
    "sort": _spec("bdfghiMmnRrsuVcCz", "ktoST",
                  "ignore-leading-blanks dictionary-order ignore-case general-numeric-sort human-numeric-sort "
                  "ignore-nonprinting month-sort numeric-sort random-sort reverse version-sort merge stable "
                  "unique zero-terminated", "key field-separator output buffer-size temporary-directory parallel "
                  "sort", "check"),
    "uniq": _spec("cdDiuz", "fsw", "count repeated ignore-case unique zero-terminated",
                  "skip-fields skip-chars check-chars", "all-repeated group"),
    "cut": _spec("nsz", "bcdf", "complement only-delimited zero-terminated",
                 "bytes characters delimiter fields output-delimiter"),
    "tr": _spec("cCdst", "", "complement delete squeeze-repeats truncate-set1"),
    "cp": _spec("abdfHilLnPpRrsTuvx", "tS",
                "archive force interactive link dereference no-clobber no-dereference parents recursive "
                "symbolic-link no-target-directory verbose one-file-system strip-trailing-slashes "
                "remove-destination attributes-only", "target-directory suffix no-preserve sparse",
                "backup preserve update reflink"),
    "mv": _spec("bfinTuv", "tS", "force interactive no-clobber no-target-directory verbose strip-trailing-slashes",
                "target-directory suffix", "backup update"),
    "rm": _spec("fiIrRdv", "", "force recursive dir verbose one-file-system"),
    "rmdir": _spec("pv", "", "parents verbose ignore-fail-on-non-empty"),
    "mkdir": _spec("pv", "m", "parents verbose", "mode"),
    "touch": _spec("acmh", "drt", "no-create no-dereference", "date reference time"),
    "diff": _spec("abBdEiNqrstTuwy", "UCWx",
                  "brief recursive new-file ignore-case ignore-all-space ignore-space-change ignore-blank-lines "
                  "text side-by-side report-identical-files no-dereference strip-trailing-cr minimal "
                  "expand-tabs initial-tab", "exclude ignore-matching-lines label width", "unified context color"),
    "tar": _spec("cxtvzjJkpO", "fC",
                 "create extract get list verbose gzip gunzip bzip2 xz zstd keep-old-files skip-old-files "
                 "to-stdout no-same-owner no-same-permissions wildcards no-recursion",
                 "file directory strip-components exclude", dash_first=True),
    "sed": _spec("nErsuz", "efl", "quiet silent regexp-extended separate unbuffered null-data posix debug",
                 "expression file line-length", "in-place", optional="i", before=("--sandbox",)),
    "awk": _spec("", "Fvf"),
    "date": _spec("uR", "dr", "utc rfc-email", "date reference rfc-3339", "iso-8601"),
    "pwd": _spec("LP"),
    "true": ProgramSpec(),
    "false": ProgramSpec(),
    "basename": _spec("az", "s", "multiple zero", "suffix"),
    "dirname": _spec("z", "", "zero"),
    "stat": _spec("Lft", "c", "dereference file-system terse", "format printf"),
    "du": _spec("abchkmsxL", "d", "all apparent-size bytes total human-readable summarize one-file-system",
                "max-depth exclude"),
    "seq": _spec("w", "fs", "equal-width", "format separator"),
    "sleep": ProgramSpec(),
    "nl": _spec("p", "bnwsvi"),
    "tac": _spec("br", "s", "before regex", "separator"),
    "rev": ProgramSpec(),
    "file": _spec("bizL", "", "brief mime mime-type mime-encoding dereference"),
    "md5sum": _spec("bctz", "", "binary check text zero"),
    "sha256sum": _spec("bctz", "", "binary check text zero"),
    "git": _spec("P", "C", "no-pager no-optional-locks version", subcommands=_GIT),
}
SPECS["mawk"] = SPECS["gawk"] = SPECS["awk"]
