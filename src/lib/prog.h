/*
 * prog.h - what the daemons' command lines share (weftd, weft-controller):
 * usage errors that name the program and point at --help, numeric options
 * checked against their range, and the exit after --help or --version.
 *
 * Usage errors exit the process: they happen while main() parses options,
 * before anything needs cleaning up.
 */
#ifndef WEFT_LIB_PROG_H
#define WEFT_LIB_PROG_H

/* Names the program in messages ("weftd") and sets the exit status of a
 * usage error. Called first in main(); name must outlive the process. */
void prog_init(const char *name, int usage_status);

/* Prints "<name>: <message>" (unless fmt is NULL, when getopt_long() has
 * already said what is wrong) and "Try '<name> --help' ..." on stderr, then
 * exits with the usage status. */
void prog_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The decimal number text of option (its name in messages, "--mac-age"),
 * from min to max; a usage error otherwise (a sign, trailing characters or a
 * number out of range). */
unsigned long prog_option_number(const char *text, unsigned long min, unsigned long max,
                                 const char *option);

/* A usage error if operands follow the options (optind < argc). */
void prog_no_operands(int argc, char **argv);

/* For --help and --version: prints on stdout, then exits with EXIT_SUCCESS,
 * or EXIT_FAILURE if stdout could not be written. */
void prog_print_exit(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
