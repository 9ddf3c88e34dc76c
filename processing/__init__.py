"""The 3D pipeline as pure functions: a file and a Settings value in, outputs and a report out.

Never imports api/, assets/ or viewer/; never touches storage, the database or the network.
Start reading at pipeline.py.
"""
