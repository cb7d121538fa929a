"""Reads the archive of session bags and explains what CLIP saw: measurements, groupings, phrase
ranking, reports.
"""
