"""The report's figures (matplotlib, written as PNG without a display)."""
import numpy as np

from dream_analysis.groupings import GROUPS, NOT_DRAWN

COLOURS = {GROUPS[0]: '#d95f02', GROUPS[1]: '#7570b3', GROUPS[2]: '#1b9e77',
           GROUPS[3]: '#e7298a', NOT_DRAWN: '#999999'}
MARKERS = {GROUPS[0]: 'v', GROUPS[1]: 's', GROUPS[2]: 'o', GROUPS[3]: 'X', NOT_DRAWN: '.'}


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _by_group(sessions):
    for group in GROUPS + (NOT_DRAWN,):
        part = sessions[sessions['grouping'] == group]
        if len(part):
            yield group, part


def _column(part, name):
    return part[name].astype(float).to_numpy() if name in part else np.full(len(part), np.nan)


def _scatter_groups(ax, sessions, x_name, y_name):
    """One marker and colour per grouping; sessions missing either value are left out."""
    for group, part in _by_group(sessions):
        x, y = _column(part, x_name), _column(part, y_name)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            ax.scatter(x[ok], y[ok], s=22, c=COLOURS[group], marker=MARKERS[group],
                       label=group)


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def similarity_plot(sessions, thresholds, path):
    """Rank of the true prompt among decoys, and concept vs written-words preference."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(0, 1, 21)
    stacks, labels, colours = [], [], []
    for group, part in _by_group(sessions):
        values = _column(part, 'agreement_percentile')
        values = values[np.isfinite(values)]
        if len(values):
            stacks.append(values)
            labels.append(group)
            colours.append(COLOURS[group])
    if stacks:
        left.hist(stacks, bins=bins, stacked=True, label=labels, color=colours)
        left.legend(fontsize=8)
    cut = thresholds['agreement_percentile'].value
    left.axvline(cut, color='k', linestyle='--', linewidth=1)
    left.set_xlabel('share of decoys beating the true prompt (0 = best)')
    left.set_ylabel('sessions')
    left.set_title('Agreement relative to decoys')
    _scatter_groups(right, sessions, 'agreement_z', 'glyph_z')
    lims = right.get_xlim()
    right.plot(lims, lims, color='#888888', linewidth=0.8)
    right.set_xlabel('z of the prompt (concept) among decoy prompts')
    right.set_ylabel('z of the prompt written as text among decoy texts')
    right.set_title('Concept or written words?')
    _legend(right)
    _save(plt, fig, path)


def confidence_plot(sessions, thresholds, path):
    """Whisper's confidence signals per session, with the thresholds in use."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _scatter_groups(ax, sessions, 'avg_logprob', 'no_speech_prob')
    ax.axvline(thresholds['avg_logprob'].value, color='k', linestyle='--', linewidth=1)
    ax.axhline(thresholds['no_speech_prob'].value, color='k', linestyle=':', linewidth=1)
    ax.set_xlabel('average log-probability (higher = surer)')
    ax.set_ylabel('no-speech probability')
    ax.set_title('Speech recognition confidence')
    _legend(ax)
    _save(plt, fig, path)


def embedding_map(sessions, clusters, path):
    """Sessions on the PCA map of drawing + prompt embeddings: colour = cluster, marker = group."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    cmap = plt.get_cmap('tab10')
    for group, part in _by_group(sessions):
        x, y = _column(part, 'map_x'), _column(part, 'map_y')
        labels = part['cluster'].to_numpy() if 'cluster' in part else np.full(len(part), -1)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            ax.scatter(x[ok], y[ok], s=40, c=[cmap(int(c) % 10) for c in labels[ok]],
                       marker=MARKERS[group], edgecolors='k', linewidths=0.4, label=group)
    ax.set_title('Embedding map (PCA): colour = cluster, marker = grouping')
    ax.set_xticks([])
    ax.set_yticks([])
    _legend(ax)
    ax.text(0.01, 0.01, clusters.note, transform=ax.transAxes, fontsize=7, color='#444444')
    _save(plt, fig, path)
