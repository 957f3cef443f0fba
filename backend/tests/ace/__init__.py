"""Tests of the AceProject client (`app.ace`) against the ACE sandbox."""
