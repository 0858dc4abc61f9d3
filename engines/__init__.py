"""Speech, translation and TTS engines shared by app/, workers/ and agent/.

This package imports nothing from app, workers or agent, and nothing here loads a model into the web
process: the local translation engine talks to Apertium APY, a separate process.
"""
