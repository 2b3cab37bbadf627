"""Data recipe: text corpus, multi-voice synthetic speech, real dev set, augmentation, manifests.

See Training/DATA.md.  Entry point: ``python -m Training.data_recipe.make_all --hours 40``.
"""
