"""The report folder: a static HTML page, its images and plots, and every measurement as
CSV and Parquet.

Layout: ``index.html``; ``images/`` (drawings and stroke heat maps); ``plots/``; ``data/``
(sessions, strokes, phrases, thresholds, issues; .csv and .parquet). The folder is marked
as a report so that a later run may overwrite it, and nothing else is ever overwritten.

A new report is written into a staging folder inside the report folder and swapped in only
when complete (index.html last), so a run that fails or is interrupted leaves the previous
report whole, never an index.html whose links point at emptied folders.
"""
import datetime
import html
import math
import os
import pathlib
import shutil

from dream_analysis.groupings import GROUPS, NOT_DRAWN, error_text

MARKER = '.dream-report'
STAGING = '.dream-report-next'     # the report being written
PARTS = ('images', 'plots', 'data')
GROUP_IDS = {g: 'group-' + g.replace(' ', '-') for g in GROUPS + (NOT_DRAWN,)}
GROUP_NOTES = {
    GROUPS[0]: 'the dream did not reach CLIP as it was told',
    GROUPS[1]: 'CLIP answered by writing the words as letters',
    GROUPS[2]: 'the drawing picks its own dream out of many others',
    GROUPS[3]: 'the drawing does not single out its dream',
    NOT_DRAWN: 'no drawing was made, for reasons other than speech',
}


def check_output(out_dir, sessions_dir=None):
    """The report folder's path, or a clear error if it cannot be used (nothing is written)."""
    out = pathlib.Path(out_dir).expanduser().resolve()
    if sessions_dir is not None:
        archive = pathlib.Path(sessions_dir).expanduser().resolve()
        if out == archive or archive in out.parents:
            raise ValueError(f'the report folder {out} is inside the archive {archive}: the '
                             'analysis never writes into the archive; choose another --out')
        if out in archive.parents:
            raise ValueError(f'the archive {archive} is inside the report folder {out}: '
                             'writing the report would delete it; choose another --out')
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f'--out {out} is a file, not a folder')
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise FileExistsError(f'--out {out} already holds files that are not a dream report; '
                              'choose an empty or new folder')
    return out


def prepare_output(out_dir, sessions_dir=None):
    """Create (or reuse) the report folder; refuse one that holds other files or the archive.

    The previous report stays as it is: the new one goes to an empty staging folder.
    """
    out = check_output(out_dir, sessions_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text('written by dream analyze\n', encoding='utf-8')
    stage = out / STAGING
    shutil.rmtree(stage, ignore_errors=True)    # what an interrupted run left
    for sub in PARTS:
        (stage / sub).mkdir(parents=True)
    return out


def publish(out):
    """Swap the staged report in: the last one's files go (none may linger), index.html last.

    The old index.html goes first, so that an interruption here leaves no page at all rather
    than one whose links are broken.
    """
    out = pathlib.Path(out)
    stage = out / STAGING
    (out / 'index.html').unlink(missing_ok=True)
    for sub in PARTS:
        shutil.rmtree(out / sub, ignore_errors=True)
        os.replace(stage / sub, out / sub)
    os.replace(stage / 'index.html', out / 'index.html')
    stage.rmdir()
    return out / 'index.html'


class ReportWriter:
    """Writes into the staging folder of a report folder made by ``prepare_output``."""

    def __init__(self, out_dir):
        self.final = pathlib.Path(out_dir)
        self.out = self.final / STAGING

    def sink(self, kind, index, image):
        """Save an image made during the analysis; returns its path relative to the report."""
        from PIL import Image
        name = f'images/{kind}-{index:05d}.png'
        Image.fromarray(image).save(self.out / name, optimize=False)
        return name

    def write(self, result, *, issues=(), title='Dreaming Machine: what CLIP saw',
              archive='', models_text='', warnings=()):
        """Write tables, plots and index.html, then publish them; returns index.html's path."""
        from dream_analysis import plots

        tables = self._write_tables(result, issues)
        figures = {}
        for name, draw in (('similarity', lambda p: plots.similarity_plot(
                               result.sessions, result.thresholds, p)),
                           ('confidence', lambda p: plots.confidence_plot(
                               result.sessions, result.thresholds, p)),
                           ('embedding_map', lambda p: plots.embedding_map(
                               result.sessions, result.clusters, p))):
            path = self.out / 'plots' / f'{name}.png'
            draw(path)
            figures[name] = f'plots/{name}.png'
        page = self.out / 'index.html'
        page.write_text(render_html(result, issues=issues, title=title, archive=archive,
                                    models_text=models_text, figures=figures, tables=tables,
                                    warnings=warnings), encoding='utf-8')
        return publish(self.final)

    def _write_tables(self, result, issues):
        import pandas as pd

        frames = {
            'sessions': result.sessions,
            'strokes': result.strokes,
            'phrases': result.phrases,
            'thresholds': pd.DataFrame([
                {'name': t.name, 'value': t.value, 'direction': t.direction,
                 'source': t.source, 'sessions': t.sessions, 'description': t.description}
                for t in result.thresholds.values()]),
            'issues': pd.DataFrame([{'bag': i.bag, 'kind': i.kind, 'message': i.message}
                                    for i in issues], columns=['bag', 'kind', 'message']),
        }
        written = {}
        for name, frame in frames.items():
            frame = tidy(frame)
            frame.to_csv(self.out / 'data' / f'{name}.csv', index=False)
            frame.to_parquet(self.out / 'data' / f'{name}.parquet', index=False)
            written[name] = (f'data/{name}.csv', f'data/{name}.parquet')
        return written


def tidy(frame):
    """Columns Parquet accepts: text columns hold only strings (missing = empty)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = [_text(v) for v in frame[column]]
    return frame


def _text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ''
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


def _e(value):
    return html.escape(_text(value))


def _clipped(value, limit=180):
    """Escaped text cut to ``limit`` characters; the whole text stays in a tooltip."""
    text = ' '.join(_text(value).split())
    if len(text) <= limit:
        return html.escape(text)
    return (f'<span title="{html.escape(text)}">{html.escape(text[:limit].rsplit(" ", 1)[0])}'
            '&hellip;</span>')


def _number(value, fmt):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return '&ndash;'
    return '&ndash;' if math.isnan(value) else format(value, fmt)


CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;
color:#222}
h1{margin-top:24px} table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;vertical-align:top}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:14px}
.session{border:1px solid #ddd;border-radius:6px;padding:8px;font-size:13px;background:#fafafa}
.session img{width:124px;height:124px;border:1px solid #eee;background:#fff}
.prompt{font-weight:600;margin:6px 0} .reason{color:#444;margin:4px 0}
.small{font-size:12px;color:#555} .warning{background:#fff3cd;padding:8px;border-radius:4px}
summary{cursor:pointer;color:#246}
"""

CHECK_SCRIPT = """
(function(){var broken=0,images=document.images;
for(var i=0;i<images.length;i++){var im=images[i];
if(im.complete&&im.naturalWidth===0){broken++;}
else{im.addEventListener('error',function(){document.body.dataset.brokenImages=++broken;});}}
document.body.dataset.images=images.length;document.body.dataset.brokenImages=broken;
window.addEventListener('load',function(){document.body.dataset.loaded='yes';});})();
"""


def plural(count, noun):
    """'1 session', '2 sessions': the report and the summary line are read by people."""
    return f'{count} {noun}{"" if count == 1 else "s"}'


def render_html(result, *, issues, title, archive, models_text, figures, tables, warnings):
    sessions = result.sessions
    counts = sessions['grouping'].value_counts().to_dict() if len(sessions) else {}
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
             f'<title>{_e(title)}</title><style>{CSS}</style></head><body>',
             f'<h1>{_e(title)}</h1>',
             f'<p class="small">Archive {_e(archive)}; {plural(len(sessions), "session")}; '
             f'written {datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}.<br>'
             f'{_e(models_text)}<br>Agreement judged by {_e(result.judge)}.</p>']
    for warning in warnings:
        parts.append(f'<p class="warning">{_e(warning)}</p>')
    parts.append('<h2>Groupings</h2><table id="summary"><tr><th>grouping</th><th>sessions'
                 '</th><th>meaning</th></tr>')
    for group in GROUPS + (NOT_DRAWN,):
        parts.append(f'<tr><td><a href="#{GROUP_IDS[group]}">{_e(group)}</a></td>'
                     f'<td>{counts.get(group, 0)}</td><td>{_e(GROUP_NOTES[group])}</td></tr>')
    parts.append('</table><p class="small">Rules, their order and every measurement are '
                 'described in MEASUREMENTS.md of the dream_analysis package.</p>')
    parts.append(_thresholds_html(result.thresholds))
    parts.append(_issues_html(issues))
    for group in GROUPS + (NOT_DRAWN,):
        members = sessions[sessions['grouping'] == group] if len(sessions) else sessions
        parts.append(f'<section class="grouping" id="{GROUP_IDS[group]}" '
                     f'data-grouping="{_e(group)}"><h2>{_e(group)} ({len(members)})</h2>'
                     f'<p class="small">{_e(GROUP_NOTES[group])}</p><div class="gallery">')
        for row in members.to_dict('records'):
            parts.append(_card(row))
        parts.append('</div></section>')
    parts.append(_clusters_html(sessions, result.clusters, figures))
    parts.append('<h2>Similarity and confidence</h2>')
    for name in ('similarity', 'confidence'):
        if name in figures:
            parts.append(f'<p><img src="{_e(figures[name])}" alt="{name} plot" '
                         'style="max-width:100%"></p>')
    parts.append('<h2>Data</h2><ul>')
    for name, (csv, parquet) in tables.items():
        parts.append(f'<li>{_e(name)}: <a href="{_e(csv)}">CSV</a>, '
                     f'<a href="{_e(parquet)}">Parquet</a></li>')
    parts.append('</ul>')
    parts.append(f'<script>{CHECK_SCRIPT}</script></body></html>')
    return '\n'.join(parts)


def _card(row):
    images = ''
    if _text(row.get('image_file')):
        images += f'<img src="{_e(row["image_file"])}" alt="drawing">'
    if _text(row.get('heatmap_file')):
        images += (f' <img src="{_e(row["heatmap_file"])}" alt="stroke importance" '
                   'title="red: strokes CLIP needs; blue: strokes against the prompt">')
    transcript = _clipped(row.get('text'))
    if _text(row.get('original_text')) and _text(row.get('original_text')) != _text(
            row.get('text')):
        transcript = (f'{_clipped(row.get("original_text"))} <span class="small">'
                      f'({_e(row.get("language"))})</span> &rarr; {transcript}')
    details = ''.join(
        f'<div><b>{label}</b>: {_e(row.get(key))}</div>'
        for label, key in (('speech', 'speech_reason'), ('prompt', 'prompt_reason'),
                           ('agreement', 'agreement_reason'), ('written words', 'glyph_reason'),
                           ('OCR', 'ocr_reason'), ('strokes', 'importance_reason'),
                           ('bag', 'bag_notes'))
        if _text(row.get(key)))
    state = _e(row.get('final_state'))
    if _text(row.get('error')) not in ('', 'none'):
        state += f' ({_e(error_text(_text(row.get("error")), row))})'
    phrases = _e(row.get('top_phrases')) or '&ndash;'
    return (f'<article class="session" data-session="{_e(row.get("session_id"))}">'
            f'{images}<div class="prompt">{_clipped(row.get("prompt")) or "<i>no prompt</i>"}'
            '</div>'
            f'<div class="small">said: {transcript or "<i>nothing</i>"}</div>'
            f'<div class="reason">{_e(row.get("grouping_reason"))}</div>'
            f'<div class="small">what CLIP sees: {phrases}</div>'
            f'<details><summary>{_e(row.get("session_id"))}: {state}, agreement rank '
            f'{_number(row.get("agreement_rank"), ".0f")}</summary>{details}</details>'
            '</article>')


def _thresholds_html(thresholds):
    rows = ''.join(f'<tr><td>{_e(t.name)}</td><td>{"&ge;" if t.direction == "above" else "&le;"}'
                   f' {_number(t.value, ".3g")}</td><td>{_e(t.source)}</td>'
                   f'<td>{_e(t.description)}</td></tr>' for t in thresholds.values())
    return ('<details><summary>Thresholds in use</summary><table><tr><th>signal</th>'
            f'<th>triggers at</th><th>from</th><th>meaning</th></tr>{rows}</table></details>')


def _issues_html(issues):
    if not issues:
        return '<p class="small">Every bag was read completely.</p>'
    rows = ''.join(f'<tr><td>{_e(i.bag)}</td><td>{_e(i.kind)}</td><td>{_e(i.message)}</td></tr>'
                   for i in issues)
    return (f'<h2 id="issues">Bags skipped or read in part ({len(issues)})</h2>'
            f'<table><tr><th>bag</th><th>what</th><th>details</th></tr>{rows}</table>')


def _clusters_html(sessions, clusters, figures):
    parts = [f'<h2 id="clusters">Clusters</h2><p class="small">{_e(clusters.note)}. Clusters '
             'group sessions by what their drawings and prompts look like to CLIP; where a '
             'cluster spreads over several groupings, the rules cut across something CLIP '
             'treats as one.</p>']
    if 'embedding_map' in figures:
        parts.append(f'<p><img src="{_e(figures["embedding_map"])}" alt="embedding map" '
                     'style="max-width:100%"></p>')
    if len(sessions) and 'cluster' in sessions and (sessions['cluster'] >= 0).any():
        import pandas as pd
        clustered = sessions[sessions['cluster'] >= 0]
        table = pd.crosstab(clustered['cluster'], clustered['grouping'])
        header = ''.join(f'<th>{_e(c)}</th>' for c in table.columns)
        body = ''.join(f'<tr><td>cluster {_e(i)}</td>'
                       + ''.join(f'<td>{v}</td>' for v in table.loc[i]) + '</tr>'
                       for i in table.index)
        parts.append(f'<table id="cluster-table"><tr><th></th>{header}</tr>{body}</table>')
    return '\n'.join(parts)
