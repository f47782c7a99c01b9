"""Peer servers the benchmark runs beside studyroom, each the textbook way to do rooms."""
