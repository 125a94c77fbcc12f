"""Record the matplotlib figures that plot functions save, to test what they draw (titles, labels, panels, points)."""


def record_saved_figures(monkeypatch, *modules) -> list:
    """
    Wrap `save_figure` of each of `modules` so that every figure it saves is also appended to the returned list, in
    order (the files are still written).
    """
    figures = []
    for module in modules:
        save = module.save_figure

        def recording_save(figure, path, save=save):
            figures.append(figure)
            return save(figure, path)

        monkeypatch.setattr(module, "save_figure", recording_save)
    return figures
