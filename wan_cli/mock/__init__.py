"""An offline stand-in for the wan2.6-image service: `--provider mock` and `wan mock serve`.

Read in this order:
1. `shapes`: the service's answer shapes and SSE framing, written once (the test suite's fake
   server builds its answers with them too);
2. `picture`: real PNGs of any size, drawn with the standard library, coloured by the prompt;
3. `answers`: what the mock says to a request (its text, images, usage, request id);
4. `server`: the HTTP server speaking both protocols (the gateway's and DashScope's, async tasks
   included), with failure scenarios for testing a pipeline's error handling;
5. `embedded`: the server `wan` starts for itself when the provider is `mock`.

Nothing is imported here: `wan --help` stays fast.
"""
