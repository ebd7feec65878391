"""Runtime model definitions shared by the trainer and the app: the recommender of paper §4.1
(and its two-tower baseline) and the music-to-LM projector of §4.2. Kept apart from the
training harness so that the engine imports exactly the classes the trainer trained."""
