"""The MSE figure keeps its log-scale y tick labels and its y label inside the picture."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import probabilistic.regression.plots as plots  # noqa: E402


class _NoWriter:
    def add_image(self, *args, **kwargs):
        pass


def test_mse_figure_labels_fit(tmp_path, monkeypatch):
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plots._pyplot(), "close", lambda fig: figures.append(fig))
    plots.plot_mse([2.5e-3, 3.1e-3, 8.7e-3], [4.5e-3, 1.3e-3, 8.7e-3], tmp_path, _NoWriter(), 3)
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    box = fig.axes[0].get_tightbbox(renderer)  # axes with tick labels and axis labels, in pixels
    width, height = fig.canvas.get_width_height()
    assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height
    assert (tmp_path / "mse_3.png").stat().st_size > 1000
    real_close(fig)
