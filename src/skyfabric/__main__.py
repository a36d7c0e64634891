from skyfabric.cli import main

main()
