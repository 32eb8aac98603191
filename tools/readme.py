"""Write README.md from nbs/index.ipynb, or check that they agree (`--check`).

nbdev_readme needs Quarto, which cannot be installed everywhere; this renders the same notebook with nbconvert:
cells flagged `#| hide` are left out and `#|` directive lines are stripped."""
import re
import sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r"^#\|\s*(.*?)\s*$", re.M)


def render_readme(nb_path:Path=ROOT/"nbs"/"index.ipynb") -> str:
    "README.md's text: the index notebook as Markdown, without hidden cells and directives."
    nb = nbformat.read(nb_path, as_version=4)
    keep = []
    for cell in nb.cells:
        flags = DIRECTIVE.findall(cell.source) if cell.cell_type == "code" else []
        if "hide" in flags or "include: false" in flags or "default_exp" in " ".join(flags): continue
        if cell.cell_type == "code": cell.source = DIRECTIVE.sub("", cell.source).strip("\n")
        keep.append(cell)
    nb.cells = keep
    nb.metadata["language_info"] = {"name": "python"}
    text, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


if __name__ == "__main__":
    readme = ROOT/"README.md"
    text = render_readme()
    if "--check" in sys.argv[1:]:
        if readme.read_text() != text: sys.exit("README.md differs from nbs/index.ipynb: run `python tools/readme.py`")
    else: readme.write_text(text)
