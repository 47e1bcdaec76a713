from tripsearch.cli import main

main()
