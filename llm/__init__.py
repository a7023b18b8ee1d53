"""The analyst: Claude (or the offline analyst) turning analytics contexts into summaries, answers and readings."""
