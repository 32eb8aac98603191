"""The docs site as a reader sees it: `python tools/build_docs.py` builds `_docs/` from nbdev's processed notebooks, and
every page is opened in headless Chromium (Debian's `chromium`, driven by playwright). A page fails on a JavaScript
error, a resource that does not load, a broken link or anchor between pages, an image that does not load, a formula
left as raw TeX, or an error output; the site fails when a public symbol of `intrinsic_props/_modidx.py` has no entry
(or more than one) on its page. Screenshots of the home page, an API page and a chapter go to `_docs_screenshots/`.

Without Chromium or playwright the browser check is skipped with the reason, except in CI (`CI` or
`INTRINSIC_PROPS_REQUIRE_DATA` set), where it fails: `.ci/run` installs Chromium."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT/"_docs"
SHOTS = ROOT/"_docs_screenshots"
STRICT = bool(os.environ.get("CI") or os.environ.get("INTRINSIC_PROPS_REQUIRE_DATA"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

spec = importlib.util.spec_from_file_location("build_docs", ROOT/"tools"/"build_docs.py")
build_docs = importlib.util.module_from_spec(spec); spec.loader.exec_module(build_docs)


def test_readme_is_rendered_from_the_index_notebook():
    res = subprocess.run([sys.executable, str(ROOT/"tools"/"readme.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr



def test_imports_have_cells_of_their_own():
    "nbdev's docs processing runs every cell holding an import: in library notebooks such cells hold only imports."
    bad = build_docs.mixed_import_cells()
    assert not bad, "give these imports a cell of their own (nbdev runs them without the cells before):\n" + "\n".join(bad)


def test_sidebar_is_current():
    "nbs/sidebar.yml (Quarto's navigation) is the reading order tools/build_docs.py derives and renders."
    yml = ROOT/"nbs"/"sidebar.yml"
    assert yml.exists() and yml.read_text() == build_docs.sidebar_yml(build_docs.notebooks()), \
        "nbs/sidebar.yml is out of date: run python tools/build_docs.py and commit it"
    from nbdev.config import get_config
    assert get_config(path=ROOT).custom_sidebar, "settings.ini: custom_sidebar = True, or nbdev_docs overwrites nbs/sidebar.yml"


def test_sidebar_order():
    "Home page first, then top-level notebooks, then tutorials, the library and the paper, each by number."
    rels = ["index.ipynb", "paper/20_properties.ipynb", "api/01_neighbors.ipynb", "api/00_data.ipynb",
            "tutorials/first_steps.ipynb",
            "api/04b_measure.ipynb", "api/04_synthetic.ipynb", "extra/notes.ipynb", "99_misc.ipynb"]
    assert build_docs.sidebar(rels) == [
        "index.ipynb", "99_misc.ipynb",
        {"section": "Tutorials", "contents": ["tutorials/first_steps.ipynb"]},
        {"section": "Library",
         "contents": ["api/00_data.ipynb", "api/01_neighbors.ipynb", "api/04_synthetic.ipynb",
                      "api/04b_measure.ipynb"]},
        {"section": "The paper", "contents": ["paper/20_properties.ipynb"]},
        {"section": "Extra", "contents": ["extra/notes.ipynb"]}]


def test_heading_ids_are_pandocs():
    "Entries get the ids Quarto (pandoc) gives their headings, which nbdev's API links point at."
    assert [build_docs.pandoc_id(t) for t in ["ImageSet", "ImageSet.flat", "Inputs: data or neighbours", "2 Results", "K_F"]] == \
        ["imageset", "imageset.flat", "inputs-data-or-neighbours", "results", "k_f"]


def _chromium():
    "The Chromium binary and playwright, or a skip (a failure in CI) saying what is missing."
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [] if exe else ["Debian's chromium (apt-get install chromium)"]
    if importlib.util.find_spec("playwright") is None: missing.append("playwright (pip install -e \".[dev]\")")
    if missing:
        msg = "the browser check of the docs needs " + " and ".join(missing)
        if STRICT: pytest.fail(msg + " (CI: .ci/run installs them)")
        pytest.skip(msg)
    return exe


def _fresh() -> bool:
    "Whether _docs/ was built after the last change to a notebook, the symbol index, the settings or the build script."
    home = DOCS/"index.html"
    if not home.exists(): return False
    sources = [*(ROOT/"nbs").rglob("*.ipynb"), ROOT/"intrinsic_props"/"_modidx.py", ROOT/"settings.ini",
               ROOT/"tools"/"build_docs.py"]
    return home.stat().st_mtime > max(f.stat().st_mtime for f in sources)


@pytest.fixture(scope="module")
def site():
    "_docs/ built with the README's command, every notebook processed again (a build newer than every source is reused)."
    if _fresh(): return DOCS
    r = subprocess.run([sys.executable, "tools/build_docs.py", "--force"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"tools/build_docs.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return DOCS


PAGE_STATE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const visible = (root) => {
    const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'svg']);
    let out = '';
    const walk = (n) => {
      if (n.nodeType === Node.TEXT_NODE) { out += n.textContent; return; }
      if (n.nodeType !== Node.ELEMENT_NODE || skip.has(n.tagName) || skip.has(n.tagName.toUpperCase())) return;
      for (const c of n.childNodes) walk(c);
      if (getComputedStyle(n).display !== 'inline') out += '\\n';
    };
    walk(root); return out;
  };
  return {
    ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    images: [...document.querySelectorAll('img')].map(i => ({src: i.currentSrc.slice(0, 80), ok: i.complete && i.naturalWidth > 0})),
    math: document.querySelectorAll('.math').length,
    mathRaw: [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    mathErrors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    entries: [...document.querySelectorAll('.doc-entry')].map(s => {
      const h = s.querySelector('h1, h2, h3, h4, h5, h6');
      return {name: h ? h.textContent.trim() : '', id: h ? h.id : '', signature: !!s.querySelector('.highlight pre')};
    }),
    errorOutputs: document.querySelectorAll('.output-error').length,
    prompts: [...document.querySelectorAll('.prompt, .jp-InputPrompt, .input_prompt')].length,
    text: visible(document.querySelector('main') || document.body),
    title: document.title,
  };
}"""

RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\(frac|sum|log|mathbb|mathrm|lVert|max|hat|le|ge)\b|(?<![\w$])\$[^$\s]{1,40}\$(?![\w$])")


def _public_symbols():
    "Each public symbol of the symbol index with its page and nbdev's anchor: (qualified name, page, anchor, module)."
    from intrinsic_props._modidx import d
    out = []
    for mod, syms in d["syms"].items():
        for k, (link, _) in syms.items():
            rest = k[len(mod)+1:]
            if any(part.startswith("_") for part in rest.split(".")): continue  # private: not documented
            page, _, anchor = link.partition("#")
            out.append((rest, page, anchor, mod))
    return out


def browse(site:Path, exe:str, profile:Path, shots:dict|None=None) -> tuple[dict, list]:
    "Open every page of `site` in headless Chromium: each page's state after MathJax ran, and the errors it raised."
    from playwright.sync_api import sync_playwright
    states, problems, shots = {}, [], shots or {}
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=exe, args=CHROMIUM_ARGS, headless=True,
                                                   viewport={"width": 1400, "height": 1000})
        try:
            page = ctx.new_page()
            events = []
            page.on("pageerror", lambda e: events.append(f"JavaScript error: {e}"))
            page.on("console", lambda m: m.type == "error" and events.append(f"console error: {m.text}"))
            page.on("requestfailed", lambda r: events.append(f"failed to load {r.url[:120]}: {r.failure}"))
            for f in sorted(site.rglob("*.html")):
                events.clear()
                page.goto(f.as_uri(), wait_until="load")
                rel = f.relative_to(site).as_posix()
                states[rel] = page.evaluate(PAGE_STATE)
                problems += [f"{rel}: {e}" for e in events]
                for name, (want, anchor) in shots.items():
                    if rel != want: continue
                    if anchor: page.goto(f.as_uri() + "#" + anchor, wait_until="load"); page.evaluate(PAGE_STATE)
                    page.screenshot(path=str(SHOTS/name))
                    if anchor: page.goto(f.as_uri(), wait_until="load")
        finally: ctx.close()
    return states, problems


def check(site:Path, states:dict, symbols:list) -> list[str]:
    "What a reader would trip over: images, formulas, error outputs, prompts, front matter, links, missing API entries."
    problems = []
    for rel, s in states.items():
        problems += [f"{rel}: image does not load: {i['src']}" for i in s["images"] if not i["ok"]]
        problems += [f"{rel}: formula not typeset: {m}" for m in s["mathRaw"]]
        problems += [f"{rel}: MathJax error: {m}" for m in s["mathErrors"]]
        problems += [f"{rel}: raw TeX in the text: …{s['text'][max(0, m.start()-40):m.end()+40]!r}…" for m in RAW_TEX.finditer(s["text"])]
        if s["errorOutputs"]: problems.append(f"{rel}: {s['errorOutputs']} error output(s) committed in the notebook")
        if s["prompts"]: problems.append(f"{rel}: input prompts shown")
        if re.search(r"^\s*(title|description|output-file):", s["text"], re.M):
            problems.append(f"{rel}: front matter shown as text")
        for href in s["links"]:
            u = urlparse(href)
            if u.scheme != "file": continue
            target = Path(unquote(u.path))
            try: trel = target.relative_to(site).as_posix()
            except ValueError: problems.append(f"{rel}: link leaves the site: {href}"); continue
            if not target.exists(): problems.append(f"{rel}: broken link {trel}"); continue
            if u.fragment and trel in states and unquote(u.fragment) not in states[trel]["ids"]:
                problems.append(f"{rel}: broken anchor {trel}#{u.fragment}")
    for name, page, anchor, mod in symbols:
        s = states.get(page)
        if s is None: problems.append(f"{mod}.{name}: its page {page} was not built"); continue
        hits = [e for e in s["entries"] if e["name"] == name]
        if len(hits) != 1: problems.append(f"{mod}.{name}: {len(hits)} entries on {page} (want 1)"); continue
        if not hits[0]["signature"]:
            problems.append(f"{mod}.{name}: its entry on {page} has no signature with its docments")
        if anchor not in s["ids"]: problems.append(f"{mod}.{name}: nbdev's anchor {page}#{anchor} is missing")
    return problems


def test_every_page_in_chromium(site, tmp_path):
    "Every page opens without errors, its links, images and formulas work, and every public symbol has its one entry."
    exe = _chromium()
    SHOTS.mkdir(exist_ok=True)
    assert (site/"index.html").exists(), "no home page"
    shots = {"home.png": ("index.html", None), "chapter.png": (_chapter_page(site), None),
             "api.png": ("intrinsic_dim.html", "mle")}
    states, problems = browse(site, exe, tmp_path/"profile", shots)
    symbols = _public_symbols()
    problems += check(site, states, symbols)
    assert not problems, f"{len(problems)} problems in _docs/:\n" + "\n".join(problems[:200])
    assert len(symbols) > 100 and (SHOTS/"home.png").exists() and (SHOTS/"chapter.png").exists()


def test_browser_check_can_fail(tmp_path):
    "The check sees a JavaScript error, a broken link and anchor, a missing image, raw TeX and a missing API entry."
    exe = _chromium()
    site = tmp_path/"site"; site.mkdir()
    (site/"index.html").write_text("""<!DOCTYPE html><html><head><title>t</title></head><body><main>
<h2 id="here">Here</h2><a href="missing.html">a</a> <a href="index.html#nowhere">b</a> <a href="#here">c</a>
<img src="absent.png"> <span class="math">\\(x\\)</span> <p>a formula $$\\frac{1}{2}$$ left as text</p>
<section class="doc-entry"><h3 id="f">f</h3></section>
<script>throw new Error("boom")</script></main></body></html>""")
    states, problems = browse(site, exe, tmp_path/"profile")
    problems += check(site, states, [("f", "index.html", "f", "m"), ("g", "index.html", "g", "m")])
    text = "\n".join(problems)
    for want in ["JavaScript error", "broken link missing.html", "broken anchor index.html#nowhere",
                 "image does not load",
                 "formula not typeset", "raw TeX", "m.f: its entry on index.html has no signature", "m.g: 0 entries"]:
        assert want in text, f"not reported: {want}\n{text}"
    assert "#here" not in text


def _chapter_page(site:Path) -> str:
    "The first chapter of the paper: the first page of nbs/paper/, or (flat layout) of the first notebook numbered 20 or more."
    rels = build_docs.notebooks()
    pick = next((r for r in rels if r.startswith("paper/")), None) or next(r for r in rels if re.match(r"[2-9]\d", r))
    out = build_docs.Page(pick, build_docs.ROOT/"_proc"/pick).path
    return out
