"""Build the docs site into `_docs/` where Quarto is not installed: `python tools/build_docs.py`.

The notebooks go through nbdev's own processors first (`proc_nbs`, the step `nbdev_proc_nbs`/`nbdev_docs` run before
Quarto: front matter, `#| hide`, show_doc entries added and executed, links to the API), into `_proc/`; this script then
renders each processed notebook to one HTML page, as Quarto would, without executing anything: committed outputs are
shown as they are.

- Pages are named as nbdev names them (the `output-file` of the front matter: `api/05_intrinsic_dim.ipynb` ->
  `intrinsic_dim.html`, in the notebook's folder), so the links in `intrinsic_props/_modidx.py` point at them.
- The navigation follows the reading order: the README (`index.ipynb`) as home page, then the top-level notebooks,
  then the folders `tutorials/`, `api/`, `paper/` (others after them), each notebook by its file name (numbers first).
  The same structure is written to `nbs/sidebar.yml`, which Quarto reads where `nbdev_docs` runs (`custom_sidebar`).
- Formulas are typeset in the browser by MathJax copied into the site from the `django-static-mathjax` package
  (a dev requirement): nothing is fetched when a page is viewed.
- Links to the API (`[`ImageSet`](https://…/data.html#imageset)`, added by nbdev) and to notebooks (`….ipynb`) become
  relative links between pages; a link to another file of the repository goes to it on GitHub.
"""
from __future__ import annotations

import argparse, html, importlib.util, json, os, posixpath, re, shutil, sys, time, warnings
from pathlib import Path

import mistune
import yaml
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {"tutorials": "Tutorials", "api": "Library", "paper": "The paper"}  # folders in reading order, their titles
SIDEBAR_HEADER = ("# Written by tools/build_docs.py (do not edit): the docs' navigation in reading order, from "
                  "the folders\n"
                  "# and the notebooks' numbers. Quarto reads it (settings.ini: custom_sidebar = True); "
                  "tests/test_docs.py\n"
                  "# checks that it is current.\n")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


# --- which notebooks, in which order ---------------------------------------------------------------------------------

def _cfg():
    from nbdev.config import get_config
    return get_config(path=ROOT)

def notebooks() -> list[str]:
    "The notebooks nbdev documents, as paths relative to the notebooks folder (posix), in nbdev's selection."
    from nbdev.doclinks import nbglob
    cfg = _cfg()
    return sorted(Path(p).relative_to(cfg.nbs_path).as_posix() for p in nbglob(cfg.nbs_path))

def _folder_key(name:str):
    return (list(SECTIONS).index(name) if name in SECTIONS else len(SECTIONS), name)

def section_title(folder:str) -> str:
    return SECTIONS.get(folder) or re.sub(r"^\d+[a-z]?_", "", folder).replace("_", " ").capitalize()

def sidebar(rels:list[str]) -> list:
    "Quarto's sidebar `contents`: the home page, the top-level notebooks, then one section per folder, in reading order."
    top = sorted((r for r in rels if "/" not in r), key=lambda r: (r != "index.ipynb", r))
    folders = {}
    for r in rels:
        if "/" in r: folders.setdefault(r.split("/", 1)[0], []).append(r)
    contents = list(top)
    for f in sorted(folders, key=_folder_key):
        contents.append({"section": section_title(f), "contents": sorted(folders[f])})
    return contents

def sidebar_yml(rels:list[str]) -> str:
    return SIDEBAR_HEADER + yaml.dump({"website": {"sidebar": {"contents": sidebar(rels)}}}, sort_keys=False,
                                      allow_unicode=True, default_flow_style=False)


# --- nbdev's processing ------------------------------------------------------------------------------------------------

def mixed_import_cells(rels:list[str]|None=None) -> list[str]:
    """Cells that nbdev's docs processing would run although they hold more than imports.

    To execute the show_doc cells, nbdev runs every exported cell and every cell holding an import (`exec_show_docs`),
    in a fresh kernel and in order, whatever else the cell holds: a cell that imports and then runs an example runs
    without the cells before it, so the build fails (or trains a model). nbdev warns about such cells ("Found cells
    containing imports and other code. See FAQ"); here they are an error: give the imports a cell of their own."""
    import ast
    from execnb.nbio import read_nb
    from nbdev.process import NBProcessor
    from nbdev.processors import _ast_contains, _do_eval, _show_docs
    cfg, bad = _cfg(), []
    for rel in rels if rels is not None else notebooks():
        nb = NBProcessor(Path(cfg.nbs_path)/rel, procs=[]).nb
        codes = [c for c in nb.cells if c.cell_type == "code"]
        def parsed(c):
            try: return c.parsed_() or []
            except SyntaxError: return []
        documented = any(_show_docs(parsed(c)) for c in codes) or \
            any(c.directives_.keys() & {"export", "exports", "exec_doc"} and "hide" not in c.directives_ for c in codes)
        if not documented: continue  # nbdev runs nothing in a notebook without exports or show_doc
        for c in codes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nbdev's own warning about these cells: reported below instead
                run = _do_eval(c)
            if not run or c.directives_.keys() & {"export", "exports", "exporti", "exec_doc"}: continue
            trees = parsed(c)
            if _ast_contains(trees, (ast.Import, ast.ImportFrom)) and _ast_contains(trees, (ast.Expr, ast.Assign)) \
               and not all(isinstance(t, (ast.Import, ast.ImportFrom)) or _show_docs([t]) for t in trees):
                bad.append(f"{rel} cell {c.idx_}: {c.source.strip().splitlines()[0][:100]}")
    return bad

def long_descriptions(rels:list[str]|None=None) -> list[str]:
    "Notebooks whose `> description` runs over several lines: nbdev's front matter keeps only the first line."
    cfg, out = _cfg(), []
    for rel in rels if rels is not None else notebooks():
        cells = json.loads((Path(cfg.nbs_path)/rel).read_text(encoding="utf-8"))["cells"]
        first = next(("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"), "")
        if first.lstrip().startswith("# ") and len(re.findall(r"^>", first, re.M)) > 1: out.append(rel)
    return out

def check_processed(cache:Path, rels:list[str]) -> list[str]:
    "Processed notebooks whose show_doc entries lack their source link: nbdev could not load the symbol index then."
    bad = []
    for rel in rels:
        f = cache/rel
        if not f.exists(): bad.append(rel); continue
        nb = json.loads(f.read_text(encoding="utf-8"))
        if any(entry_name(_md(o)) and "[source](" not in _md(o) for c in nb["cells"] for o in c.get("outputs", [])):
            bad.append(rel)
    return bad

def process(force:bool=False, n_workers:int|None=None) -> Path:
    "Run nbdev's docs processors over the notebooks into `_proc/` (what `nbdev_proc_nbs` does, without needing Quarto)."
    from nbdev.serve import proc_nbs
    cfg = _cfg()
    n_workers = n_workers or min(2, os.cpu_count() or 1)
    cwd = os.getcwd()
    os.chdir(ROOT)  # nbdev's workers find settings.ini from the working directory
    try: return Path(proc_nbs(cfg.nbs_path, n_workers=n_workers, force=force))
    finally: os.chdir(cwd)


# --- markdown -> HTML --------------------------------------------------------------------------------------------------

def pandoc_id(text:str) -> str:
    "The identifier pandoc (so Quarto) gives a heading: the one nbdev's API links (`data.html#imageset`) point at."
    s = re.sub(r"[^\w\s.-]", "", text.strip().lower(), flags=re.UNICODE)
    s = re.sub(r"\s+", "-", s)
    s = re.sub(r"^[^a-z]+", "", s)
    return s or "section"

# pandoc's inline math may run over a line break (not a blank line); mistune's may not
INLINE_MATH = (r"\$\$(?P<display_math_text>(?:[^$\\]|\\.)*?)\$\$|"
               r"\$(?P<backtick_math_marker>`+)(?P<backtick_math_text>[\s\S]*?)(?P=backtick_math_marker)\$|"
               r"\$(?!\$)(?!\s)(?P<math_text>(?:[^$\\\n]|\\.|\n(?![ \t]*\n))+?)(?<!\s)\$(?!\d)")

def math_plugin(md):
    "mistune's math plugin (in lists and quotes too), with pandoc's inline math."
    from mistune.plugins.math import BLOCK_MATH_PATTERN, math_in_list, math_in_quote, parse_block_math, parse_inline_math
    md.block.register("block_math", BLOCK_MATH_PATTERN, parse_block_math, before="list")
    md.inline.register("inline_math", INLINE_MATH, parse_inline_math, before="codespan")
    math_in_list(md); math_in_quote(md)

def strip_tags(s:str) -> str: return html.unescape(re.sub(r"<[^>]+>", "", s))


class PageRenderer(mistune.HTMLRenderer):
    "Markdown of one page: pandoc's heading ids, highlighted code, MathJax-ready math, links between pages."
    def __init__(self, site:"Site"):
        super().__init__(escape=False)
        self.site, self.page, self.ids, self.headings, self.entries, self.entry = site, None, set(), [], {}, False

    def start(self, page:"Page", entries:list[str]):
        "A new page whose API entries are `entries`: they get their plain ids first (nbdev's links point there)."
        self.page, self.ids, self.headings, self.entries, self.entry = page, set(), [], {}, False
        for name in entries:
            if name not in self.entries: self.entries[name] = self.new_id(name)

    def new_id(self, text:str) -> str:
        base = pandoc_id(text); i, n = base, 0
        while i in self.ids: n += 1; i = f"{base}-{n}"
        self.ids.add(i)
        return i

    def heading(self, text:str, level:int, **attrs) -> str:
        plain = strip_tags(text)
        hid = self.entries[plain] if self.entry and plain in self.entries else self.new_id(plain)
        self.headings.append((level, plain, hid))
        return f'<h{level} id="{hid}">{text}</h{level}>\n'

    def link(self, text:str, url:str, title=None) -> str:
        return self.site.link_html(text, url, self.page, title)

    def image(self, text:str, url:str, title=None) -> str:
        src = self.site.asset(url, self.page)
        t = f' title="{html.escape(title)}"' if title else ""
        return f'<img src="{html.escape(src)}" alt="{html.escape(strip_tags(text))}"{t}>'

    def block_code(self, code:str, info=None) -> str:
        return self.site.code_html(code, (info or "").split()[0] if info else "python", self.page)

    def inline_math(self, text:str) -> str: return f'<span class="math inline">\\({html.escape(text, quote=False)}\\)</span>'
    def block_math(self, text:str) -> str: return f'<div class="math display">\\[{html.escape(text, quote=False)}\\]</div>\n'


# --- the site ------------------------------------------------------------------------------------------------------------

class Page:
    def __init__(self, rel:str, proc:Path):
        self.rel, self.proc = rel, proc
        self.nb = json.loads(proc.read_text(encoding="utf-8"))
        self.fm = front_matter(self.nb)
        out = self.fm.get("output-file") or re.sub(r"^\d+[a-zA-Z0-9]*_", "", Path(rel).name.lower())
        self.path = posixpath.join(posixpath.dirname(rel), Path(out).with_suffix(".html").name)  # site-relative
        self.title = str(self.fm.get("title") or Path(rel).stem)
        self.description = str(self.fm.get("description") or "")
        self.entries = {}  # documented symbol -> heading id
        self.headings, self.html, self.has_math = [], "", False

    @property
    def root(self) -> str:
        "Relative prefix from this page to the site's root."
        return "../" * self.path.count("/")


def front_matter(nb:dict) -> dict:
    "The YAML front matter nbdev's FrontmatterProc puts in a raw first cell."
    for c in nb["cells"][:2]:
        s = "".join(c["source"])
        if c["cell_type"] == "raw" and s.lstrip().startswith("---"):
            return yaml.safe_load(s.strip().strip("-")) or {}
    return {}

def _md(o:dict) -> str:
    md = o.get("data", {}).get("text/markdown", "")
    return "".join(md) if isinstance(md, list) else md

def is_entry(md:str) -> bool: return md.lstrip().startswith("---") and bool(re.search(r"^#{1,6} \S", md, re.M))

def entry_name(md:str) -> str|None:
    "The symbol a show_doc output documents (its heading), or None for other output."
    if not md or not is_entry(md): return None
    m = re.search(r"^#{1,6} (\S+)\s*$", md, re.M)
    return m.group(1) if m else None

def directives(src:str) -> tuple[dict, str]:
    "Quarto/nbdev cell options (`#| key: value`) and the code without them."
    opts, body = {}, []
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if m and not body: opts[m.group(1)] = m.group(2)
        else: body.append(line)
    return opts, "\n".join(body).strip("\n")


class Site:
    def __init__(self, out:Path, rels:list[str], proc:Path):
        cfg = _cfg()
        self.out, self.rels, self.cfg = out, rels, cfg
        self.doc_url = (cfg.doc_host.rstrip("/") + "/" + cfg.doc_baseurl.strip("/")).rstrip("/") + "/"
        self.git_blob = f"{cfg.git_url.rstrip('/')}/blob/{cfg.branch}/"
        self.pages = [Page(r, proc/r) for r in rels]
        self.by_rel = {p.rel: p for p in self.pages}
        self.by_path = {p.path: p for p in self.pages}
        self.renderer = PageRenderer(self)
        self.md = mistune.create_markdown(renderer=self.renderer,
                                          plugins=["table", math_plugin, "strikethrough", "footnotes", "url"])
        self.formatter = HtmlFormatter(nowrap=False, cssclass="highlight")

    # links
    def target(self, url:str, page:Page) -> str|None:
        "Site-relative path (+#anchor) of a link that stays in the site, `github:PATH` for another file of the repository, None for an external link."
        if url.startswith(self.doc_url): return url[len(self.doc_url):]
        if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I) or url.startswith("//"): return None
        if url.startswith("#"): return page.path + url
        path, _, frag = url.partition("#")
        frag = f"#{frag}" if frag else ""
        nbs = Path(self.cfg.nbs_path).relative_to(ROOT).as_posix()
        from_root = [posixpath.normpath(posixpath.join(nbs, posixpath.dirname(page.rel), path))]
        if page.rel == "index.ipynb": from_root.insert(0, posixpath.normpath(path))  # README.md is read from the root
        for r in from_root:
            key = posixpath.relpath(r, nbs)
            if key in self.by_rel: return self.by_rel[key].path + frag
            if key in self.by_path: return key + frag
        for r in from_root:
            if (ROOT/r).exists(): return f"github:{r}{frag}"
        return posixpath.relpath(from_root[-1], nbs) + frag

    def href(self, url:str, page:Page, sym:str|None=None) -> tuple[str, bool]:
        "The link as written in `page`, and whether it is external."
        url = url.replace("#LNone", "")  # nbdev's source links when it cannot find the line
        t = self.target(url, page)
        if t is None: return url, True
        if t.startswith("github:"): return self.git_blob + t[len("github:"):], True
        path, _, frag = t.partition("#")
        if frag and sym: frag = f"@@sym:{path}#{frag}#{sym}@@"  # resolved once every page's entries are known
        rel = posixpath.relpath(path, posixpath.dirname(page.path) or ".") if path != page.path else ""
        return rel + (f"#{frag}" if frag else ""), False

    def link_html(self, text:str, url:str, page:Page, title=None) -> str:
        sym = strip_tags(text).strip().strip("`").removesuffix("()")
        href, ext = self.href(url, page, sym if re.fullmatch(r"[\w.]+", sym) else None)
        t = f' title="{html.escape(title)}"' if title else ""
        x = ' target="_blank" rel="noopener"' if ext else ""
        return f'<a href="{html.escape(href)}"{t}{x}>{text}</a>'

    def resolve_entries(self, text:str) -> str:
        """API links go to the entry of the symbol their text names (`Neighbors` and `neighbors` share nbdev's anchor);
        a link to a symbol without an entry (a private helper) and without another target on its page is dropped."""
        def sub(m):
            pre, path, frag, sym, attrs, inner = m.groups()
            target = self.by_path.get(path)
            entries, ids = (target.entries, target.ids) if target else ({}, set())
            parts = sym.split(".")
            for i in range(len(parts)):
                if ".".join(parts[i:]) in entries: return f'<a href="{pre}{entries[".".join(parts[i:])]}"{attrs}>{inner}</a>'
            if frag in ids or target is None: return f'<a href="{pre}{frag}"{attrs}>{inner}</a>'
            return inner
        return re.sub(r'<a href="([^"@]*)@@sym:([^#@]+)#([^#@]*)#([\w.]+)@@"([^>]*)>(.*?)</a>', sub, text, flags=re.S)

    def asset(self, url:str, page:Page) -> str:
        "A local image copied into the site next to its page."
        if re.match(r"^[a-z]+:", url, re.I): return url
        src = (Path(self.cfg.nbs_path)/posixpath.dirname(page.rel)/url).resolve()
        if not src.is_file(): return url
        dest = self.out/posixpath.dirname(page.path)/url
        dest.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, dest)
        return url

    def code_html(self, code:str, lang:str, page:Page) -> str:
        try: lexer = PythonLexer() if lang in ("python", "py", "") else get_lexer_by_name(lang)
        except ClassNotFound: lexer = TextLexer()
        out = highlight(code, lexer, self.formatter)
        # show_doc's signatures carry the docments' links as markdown inside the code: make them links
        return re.sub(r"\[`([^`\]]+)`\]\(([^)\s]+)\)",
                      lambda m: self.link_html(f"<code>{m.group(1)}</code>", html.unescape(m.group(2)), page), out)

    # notebooks
    def markdown(self, text:str) -> str:
        text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)\{[^}]*\}", r"[\1](\2)", text)  # pandoc attributes after links
        return self.md(text)

    def output_html(self, o:dict, asis:bool, page:Page) -> str:
        kind = o.get("output_type")
        if kind == "stream":
            cls = "output-stderr" if o.get("name") == "stderr" else "output-stream"
            return f'<pre class="output {cls}">{html.escape(ANSI.sub("", "".join(o.get("text", ""))))}</pre>'
        if kind == "error":
            tb = ANSI.sub("", "\n".join(o.get("traceback", [])) or f"{o.get('ename')}: {o.get('evalue')}")
            return f'<pre class="output output-error">{html.escape(tb)}</pre>'
        data = o.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data: return ""  # progress bars: no state to show
        get = lambda k: "".join(data[k]) if isinstance(data[k], list) else data[k]
        if "text/markdown" in data and asis:
            md = get("text/markdown")
            if is_entry(md):  # a show_doc entry
                self.renderer.entry = True
                try: body = self.markdown(md.lstrip()[3:])
                finally: self.renderer.entry = False
                name = entry_name(md)
                if name: page.entries.setdefault(name, self.renderer.entries.get(name))
                return f'<section class="doc-entry">{body}</section>'
            return self.markdown(md)
        if "text/html" in data: return f'<div class="output output-html">{get("text/html")}</div>'
        if "image/svg+xml" in data: return f'<div class="output output-figure">{get("image/svg+xml")}</div>'
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if mime in data:
                b64 = get(mime).replace("\n", "")
                return f'<div class="output output-figure"><img src="data:{mime};base64,{b64}" alt="figure"></div>'
        if "text/markdown" in data: return f'<div class="output output-markdown">{self.markdown(get("text/markdown"))}</div>'
        if "text/latex" in data: return f'<div class="output math display">{html.escape(get("text/latex"))}</div>'
        if "text/plain" in data:
            return f'<pre class="output output-text">{html.escape(ANSI.sub("", get("text/plain")))}</pre>'
        return ""

    def cell_html(self, c:dict, page:Page) -> str:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown": return self.markdown(src)
        if c["cell_type"] != "code": return ""
        opts, body = directives(src)
        if opts.get("include") == "false": return ""
        show_input = opts.get("echo") != "false" and body.strip()
        outs = [] if opts.get("output") == "false" else c.get("outputs", [])
        asis = opts.get("output") == "asis"
        outs = [h for h in (self.output_html(o, asis, page) for o in outs) if h]
        if not show_input and not outs: return ""
        if asis and not show_input: return "\n".join(outs)
        code = self.code_html(body, "python", page) if show_input else ""
        fold = opts.get("code-fold") in ("true", "show") and code
        if fold:
            code = f'<details{" open" if opts["code-fold"] == "show" else ""}><summary>Code</summary>{code}</details>'
        return f'<div class="cell">{code}{"".join(outs)}</div>'

    def render(self, page:Page):
        self.renderer.start(page,
                            [n for c in page.nb["cells"] for o in c.get("outputs", []) if (n := entry_name(_md(o)))])
        cells = [c for c in page.nb["cells"] if not (c["cell_type"] == "raw" and "".join(c["source"]).lstrip().startswith("---"))]
        page.html = "\n".join(self.cell_html(c, page) for c in cells)
        page.headings, page.ids = list(self.renderer.headings), set(self.renderer.ids)
        page.description_html = re.sub(r"^<p>|</p>\s*$", "", self.markdown(page.description).strip()) if page.description else ""
        page.has_math = 'class="math' in page.html or 'class="math' in page.description_html

    # layout
    def nav_html(self, page:Page) -> str:
        def item(rel):
            p = self.by_rel.get(rel)
            if p is None: return ""
            cur = ' class="current" aria-current="page"' if p is page else ""
            return f'<li><a href="{html.escape(page.root + p.path)}"{cur}>{html.escape(p.title)}</a></li>'
        parts = []
        for e in sidebar(self.rels):
            if isinstance(e, str): parts.append(item(e))
            else:
                parts.append(f'<li class="section"><span>{html.escape(e["section"])}</span><ul>{"".join(item(r) for r in e["contents"])}</ul></li>')
        return f'<nav class="sidebar" aria-label="Pages"><ul>{"".join(parts)}</ul></nav>'

    def toc_html(self, page:Page) -> str:
        items = [f'<li class="toc-{lvl}"><a href="#{hid}">{html.escape(t)}</a></li>' for lvl,
                 t, hid in page.headings if lvl in (2, 3)]
        return f'<nav class="toc" aria-label="On this page"><p class="toc-title">On this page</p><ul>{"".join(items)}</ul></nav>' if items else ""

    def page_html(self, page:Page) -> str:
        home = self.by_rel.get("index.ipynb")
        site_title = html.escape(str(home.title if home else self.cfg.lib_name))
        mathjax = ('<script>window.MathJax = '
                   f'{{tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"], ["$$", "$$"]]}}, '
                   f'options: {{ignoreHtmlClass: "no-math", processHtmlClass: "math"}}, svg: '
                   f'{{fontCache: "global"}}}};</script>\n'
                   f'<script defer id="MathJax-script" src="{page.root}assets/mathjax/tex-svg-full.js"></script>') if page.has_math else ""
        desc = f'<p class="description">{page.description_html}</p>' if page.description_html else ""
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(page.title)} – {site_title}</title>
<meta name="description" content="{html.escape(page.description)}">
<link rel="stylesheet" href="{page.root}assets/site.css">
<link rel="stylesheet" href="{page.root}assets/pygments.css">
{mathjax}
</head>
<body class="no-math">
<header class="topbar"><a class="brand" href="{page.root}index.html">{site_title}</a></header>
<div class="layout">
{self.nav_html(page)}
<main class="content" id="content">
<header class="page-header"><h1 class="title">{html.escape(page.title)}</h1>{desc}</header>
{page.html}
</main>
{self.toc_html(page)}
</div>
</body>
</html>
"""

    def write(self):
        for p in self.pages: self.render(p)
        if self.out.exists(): shutil.rmtree(self.out)
        (self.out/"assets"/"mathjax").mkdir(parents=True)
        for p in self.pages:
            dest = self.out/p.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(self.resolve_entries(self.page_html(p)), encoding="utf-8")
        (self.out/"assets"/"site.css").write_text(CSS, encoding="utf-8")
        (self.out/"assets"/"pygments.css").write_text(self.formatter.get_style_defs(".highlight"), encoding="utf-8")
        mj = mathjax_dir()
        shutil.copy2(mj/"es5"/"tex-svg-full.js", self.out/"assets"/"mathjax"/"tex-svg-full.js")
        shutil.copy2(mj/"LICENSE", self.out/"assets"/"mathjax"/"LICENSE")
        (self.out/".nojekyll").write_text("")


def mathjax_dir() -> Path:
    "MathJax 3 as the `django-static-mathjax` package ships it (a dev requirement; no network when a page is viewed)."
    spec = importlib.util.find_spec("mathjax")
    d = Path(list(spec.submodule_search_locations)[0])/"static"/"mathjax" if spec and spec.submodule_search_locations else None
    if d is None or not (d/"es5"/"tex-svg-full.js").exists():
        raise SystemExit("MathJax not found: install the dev requirements (pip install -e \".[dev]\"; "
                         "the package django-static-mathjax ships MathJax 3)")
    return d


CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-code: #f6f8fa; --accent: #0969da; --side: 16rem; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
a code { color: var(--accent); }
.topbar { position: sticky; top: 0; z-index: 2; background: #24292f; padding: .6rem 1.2rem; }
.topbar .brand { color: #fff; font-weight: 600; font-size: 1.1rem; }
.layout { display: grid; grid-template-columns: var(--side) minmax(0, 1fr) 14rem; gap: 2rem; max-width: 90rem; margin: 0 auto; }
.sidebar { position: sticky; top: 3rem; align-self: start; max-height: calc(100vh - 3rem); overflow-y: auto; padding: 1.2rem 0 1.2rem 1.2rem; font-size: .93rem; }
.sidebar ul { list-style: none; margin: 0; padding: 0; }
.sidebar li a { display: block; padding: .2rem .6rem; border-radius: 6px; color: var(--fg); }
.sidebar li a.current { background: #ddf4ff; color: var(--accent); font-weight: 600; }
.sidebar li.section > span { display: block; margin: 1rem 0 .3rem .6rem; font-weight: 700; font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.content { min-width: 0; padding: 1.5rem 0 4rem; }
.page-header { border-bottom: 1px solid var(--line); margin-bottom: 1.5rem; }
.page-header .title { margin: 0 0 .4rem; font-size: 2.1rem; }
.page-header .description { margin: 0 0 1rem; font-size: 1.15rem; color: var(--muted); font-style: italic; }
h2 { margin-top: 2.2rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h2, h3, h4 { scroll-margin-top: 3.5rem; }
.toc { position: sticky; top: 3rem; align-self: start; max-height: calc(100vh - 3rem); overflow-y: auto; padding: 1.5rem 1rem 1rem 0; font-size: .85rem; }
.toc .toc-title { font-weight: 700; margin: 0 0 .4rem; }
.toc ul { list-style: none; margin: 0; padding: 0; } .toc li.toc-3 { padding-left: .9rem; }
.toc a { color: var(--muted); display: block; padding: .1rem 0; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .86em; }
:not(pre) > code { background: var(--bg-code); padding: .1em .3em; border-radius: 4px; }
.highlight { background: var(--bg-code); border-radius: 6px; }
.highlight pre { margin: 0; padding: .8rem 1rem; overflow-x: auto; line-height: 1.45; }
.cell { margin: 1rem 0; }
.output { margin: .3rem 0 0; }
pre.output { padding: .5rem 1rem; border-left: 3px solid #f0b37e; overflow-x: auto; white-space: pre; }
pre.output-stderr { background: #fff8c5; }
pre.output-error { background: #ffebe9; border-left-color: #cf222e; }
.output-figure img, .content img { max-width: 100%; height: auto; }
.output-html { overflow-x: auto; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .3rem .6rem; text-align: left; }
thead th { background: var(--bg-code); }
.doc-entry { border-top: 1px solid var(--line); margin: 1.6rem 0 1rem; padding-top: .3rem; }
.doc-entry > h3, .doc-entry > h4 { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: .4rem 0 .6rem; }
.doc-entry > p:first-child { float: right; margin: .2rem 0 0; font-size: .8rem; }
.doc-entry .highlight .c1 a code { background: none; padding: 0; }
.math.display { overflow-x: auto; margin: 1rem 0; }
blockquote { margin: 1rem 0; padding: 0 1rem; color: var(--muted); border-left: 4px solid var(--line); }
details > summary { cursor: pointer; color: var(--muted); }
@media (max-width: 70rem) { .layout { grid-template-columns: 13rem minmax(0, 1fr); } .toc { display: none; } }
@media (max-width: 45rem) { .layout { display: block; padding: 0 1rem; } .sidebar { position: static; max-height: none; } }
"""


def build(out:Path|None=None, force:bool=False, n_workers:int|None=None, proc:bool=True, write_sidebar:bool=True) -> Site:
    "Process the notebooks with nbdev and render `_docs/`; returns the site (pages, their entries and headings)."
    cfg = _cfg()
    out = Path(out or ROOT/cfg.doc_path.name)
    rels = notebooks()
    if write_sidebar:
        yml = Path(cfg.nbs_path)/"sidebar.yml"
        text = sidebar_yml(rels)
        if not yml.exists() or yml.read_text() != text: yml.write_text(text)
    for rel in long_descriptions(rels):
        print(f"warning: {rel}: its '> description' runs over several lines and nbdev keeps only the first: write "
              "it on one line",
              file=sys.stderr)
    if proc:
        if bad := mixed_import_cells(rels):
            raise SystemExit("These cells hold imports and other code; nbdev's docs processing runs every cell with "
                             "an import,\n"
                             "without the cells before it. Give the imports a cell of their own:\n  "
                             + "\n  ".join(bad))
        cache = process(force=force, n_workers=n_workers)
        if stale := check_processed(cache, rels):  # e.g. intrinsic_props/_modidx.py rewritten while nbdev read it
            for rel in stale: (cache/rel).unlink(missing_ok=True)
            cache = process(n_workers=n_workers)
            if stale := check_processed(cache, rels):
                raise SystemExit(f"nbdev's processing left API entries without their links in {stale}: "
                                 "is intrinsic_props/_modidx.py current (nbdev_export) and the package installed (pip "
                                 "install -e .)?")
    else: cache = ROOT/"_proc"
    site = Site(out, rels, cache)
    site.write()
    return site


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (default: settings.ini's doc_path, _docs)")
    ap.add_argument("--force", action="store_true",
                    help="process every notebook again (else only those changed since the last build)")
    ap.add_argument("--workers", type=int, help="processes for nbdev's processing (default: up to 2)")
    ap.add_argument("--no-proc", action="store_true", help="render _proc/ as it is, without nbdev's processing")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    site = build(a.out, force=a.force, n_workers=a.workers, proc=not a.no_proc)
    n = sum(len(p.entries) for p in site.pages)
    print(f"{len(site.pages)} pages, {n} API entries in {site.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
