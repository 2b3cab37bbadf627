"""Harvard sentences, list 1 (IEEE 1969 "Recommended practice for speech quality measurements"), the
round-trip intelligibility test. Kept out of every training text (``make_data.pick_sentences``)."""
HARVARD_LIST_1 = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
]
