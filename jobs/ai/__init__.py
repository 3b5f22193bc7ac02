"""The AI provider of the nurture pipeline: prompt construction, the OpenAI writer and the offline template writer."""
