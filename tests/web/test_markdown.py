"""The page's Markdown renderer, run in the browser: what it renders and what it never emits."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from tests.web.helpers import PageOpener

CASES = [
    ("<b>bold</b> & 'quotes'", "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quotes&#39;</p>"),
    ("# Title\n## Sub", "<h3>Title</h3><h4>Sub</h4>"),
    (
        "**b** *i* _u_ ~~s~~ ***bi***",
        "<p><strong>b</strong> <em>i</em> <em>u</em> <del>s</del> <strong><em>bi</em></strong></p>",
    ),
    ("snake_case_name and 2 * 3 * 4", "<p>snake_case_name and 2 * 3 * 4</p>"),
    ("`<i>` and `**x**`", "<p><code>&lt;i&gt;</code> and <code>**x**</code></p>"),
    ("```js\nif (a < b) {}\n```", '<pre><code class="language-js">if (a &lt; b) {}</code></pre>'),
    ("```\nstill streaming <", "<pre><code>still streaming &lt;</code></pre>"),
    ("- a\n- b\n  - c\n- d", "<ul><li>a</li><li><p>b</p><ul><li>c</li></ul></li><li>d</li></ul>"),
    ("3. three\n4. four", '<ol start="3"><li>three</li><li>four</li></ol>'),
    ("> quoted\n> more", "<blockquote><p>quoted<br>more</p></blockquote>"),
    ("line one\nline two\n\nnext", "<p>line one<br>line two</p><p>next</p>"),
    ("---", "<hr>"),
    (
        "[docs](https://example.com/a?b=1&c=2)",
        '<p><a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer">docs</a></p>',
    ),
    (
        "see http://example.com/x.",
        '<p>see <a href="http://example.com/x" target="_blank" rel="noopener noreferrer">'
        "http://example.com/x</a>.</p>",
    ),
    ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
    ("[x](data:text/html,hi)", "<p>[x](data:text/html,hi)</p>"),
    ("[x](//evil.example)", "<p>[x](//evil.example)</p>"),
    ("a\u0000b\u0001c", "<p>a\ufffdb\ufffdc</p>"),
]

# Random text built from the characters that matter to Markdown and HTML; every rendering is
# parsed and walked: only our tags, only our attributes, only web links.
FUZZ = """async ({ runs, seed }) => {
  const { renderMarkdown } = await import("/static/markdown.js");
  const pieces = ["<", ">", "&", '"', "'", "`", "```", "*", "**", "_", "~~", "[", "]", "(", ")",
    "#", "# ", "> ", "- ", "1. ", "\\n", "\\n\\n", "  ", "http://a.b/c", "https://x.y/\\"z",
    "javascript:", "data:", "[a](", "](", "javascript:x)", "data:x)", "//x.y)",
    "<img src=x onerror=alert(1)>", "<script>", "on", "=", "a", "b c", "&lt;", "&#39;",
    "\\u0001", "\\u0002", "0", "\\t"];
  const tags = new Set(["P", "BR", "H3", "H4", "H5", "H6", "STRONG", "EM", "DEL", "CODE", "PRE",
    "UL", "OL", "LI", "BLOCKQUOTE", "HR", "A"]);
  const attrs = { A: ["href", "target", "rel"], CODE: ["class"], OL: ["start"] };
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let run = 0; run < runs; run++) {
    let text = "";
    const length = 1 + Math.floor(random() * 30);
    for (let i = 0; i < length; i++) text += pieces[Math.floor(random() * pieces.length)];
    const template = document.createElement("template");
    template.innerHTML = renderMarkdown(text);
    for (const el of template.content.querySelectorAll("*")) {
      if (!tags.has(el.tagName)) return { text, problem: `tag ${el.tagName}` };
      for (const attr of el.attributes) {
        const allowed = attrs[el.tagName] || [];
        if (!allowed.includes(attr.name)) return { text, problem: `attribute ${attr.name}` };
      }
      if (el.tagName === "A" && !/^https?:\\/\\//.test(el.getAttribute("href"))) {
        return { text, problem: `href ${el.getAttribute("href")}` };
      }
    }
  }
  return null;
}"""

# The page does not depend on the storage engines; the room tests that do run on both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@pytest.fixture
async def page(server: Any, open_page: PageOpener) -> Page:
    return await open_page(server.base_url)


async def render(page: Page, text: str) -> str:
    html: str = await page.evaluate(
        "async t => (await import('/static/markdown.js')).renderMarkdown(t)", text
    )
    return html


async def test_markdown_renders_the_common_forms(page: Page) -> None:
    for source, expected in CASES:
        assert await render(page, source) == expected, source


async def test_markdown_never_emits_anything_but_its_own_markup(page: Page) -> None:
    assert await page.evaluate(FUZZ, {"runs": 3000, "seed": 20250101}) is None
