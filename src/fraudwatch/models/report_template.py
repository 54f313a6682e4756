"""The HTML page of the evaluation report (a Python string, so it ships inside the package)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>fraudwatch model report</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; }
.note { color: #666; font-size: .92em; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
</style></head><body>
<h1>fraudwatch model report</h1>
<p class="note">$subtitle</p>
$body
</body></html>
"""
