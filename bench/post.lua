-- wrk script: POST the request body given in the BODY environment variable.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-client-key"
wrk.headers["x-llmtrail-user"] = "u-bench"
wrk.body = os.getenv("BODY")
