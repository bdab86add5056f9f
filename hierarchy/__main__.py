from hierarchy.cli import main

main()
