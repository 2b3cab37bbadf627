"""Speech synthesis recipe: text front end, data, acoustic model, vocoder (see README.md)."""
