"""The command line: click defines it (commands/), plain functions do it (actions/).

The hot verbs (run, create, start, exec, stop, kill, rm, ps, wait) never import click: main.py
parses them with fastparse.py from _verb_table.py, a table generated from the click definitions by
gen_verb_table.py (a test fails when it is out of date), so click stays the one definition of the
CLI and its help text.
"""
