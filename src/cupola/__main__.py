from cupola.cli.main import main

main()
