print("feedreactor")
