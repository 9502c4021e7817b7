#!/usr/bin/python3
# Executes a notebook with Debian's nbclient through a Jupyter Server (the jupyter_server process
# the test starts with --gateway-url at Corral), and writes the executed notebook.
#
# nbclient needs a kernel manager; jupyter_server's own GatewayKernelManager and
# GatewayKernelClient are the ones that speak a server's kernels API (REST + the kernel
# WebSocket), so they are pointed at the local Jupyter Server, which relays to Corral.
#
# Usage: jupyter-nbclient-runner.py SERVER_URL NOTEBOOK_IN NOTEBOOK_OUT
import logging
import os
import sys

import nbformat
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.gateway.managers import GatewayKernelManager
from nbclient import NotebookClient


def main():
    if os.environ.get('RUNNER_DEBUG'):
        logging.basicConfig(level=logging.DEBUG)
    url, nb_in, nb_out = sys.argv[1:4]
    GatewayClient.instance().url = url
    nb = nbformat.read(nb_in, as_version=4)
    km = GatewayKernelManager(kernel_name='python3')
    client = NotebookClient(nb, km=km, kernel_name='python3', timeout=120, startup_timeout=120, allow_errors=True)
    # The manager is ours, not nbclient's: cleanup_kc makes nbclient shut the kernel down (a DELETE
    # through the server) and stop the client's channels, whose reader thread would otherwise
    # keep this process alive.
    client.execute(cleanup_kc=True)
    nbformat.write(nb, nb_out)


if __name__ == '__main__':
    main()
